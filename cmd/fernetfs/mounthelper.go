package main

import (
	"os"
	"strings"
)

// The mount(8) form: for an fstab entry of type fuse.fernetfs, mount(8)
// runs mount.fuse3, which runs "fernetfs BACKING MOUNTPOINT -o OPTIONS"
// (OPTIONS as in fstab, less the ones it handles itself, plus "dev,suid"
// unless nodev/nosuid were given). mountHelperArgs turns that form into
// the arguments of "fernetfs mount".

// mountHelperOptions maps each fernetfs option of the -o list to the flag
// of "fernetfs mount" it stands for; a value after "=" becomes the flag's
// value. The password options never prompt when given: a missing or
// wrong file fails the mount at once, which mount -a and systemd report.
var mountHelperOptions = map[string]helperOption{
	"ro":                {"--read-only", false},
	"allow_other":       {"--allow-other", false},
	"noexec":            {"--noexec", false},
	"shared_storage":    {"--shared-storage", false},
	"debug":             {"--debug", false},
	"idle":              {"--idle", true},
	"passfile":          {"--password-file", true},
	"passcmd":           {"--password-command", true},
	"password_command":  {"--password-command", true},
	"recovery_key_file": {"--recovery-key-file", true},
	"log":               {"--log", true},
	"reverse":           {"--reverse", false},
	"exclude_from":      {"--exclude-from", true},
}

// helperOption is one fernetfs option of the -o list.
type helperOption struct {
	flag     string
	hasValue bool // "name=value", the value going to flag
}

// ignoredMountOptions are generic options mount(8), mount.fuse3 or fstab
// pass along that are not fernetfs's business: mounts are always nosuid
// and nodev (so "suid" and "dev", which mount.fuse3 adds by default, do
// not turn them on), and atime handling is the kernel's.
var ignoredMountOptions = map[string]bool{
	"rw": true, "defaults": true, "dev": true, "nodev": true, "suid": true,
	"nosuid": true, "exec": true, "nofail": true, "_netdev": true,
	"auto": true, "noauto": true, "user": true, "users": true, "nouser": true,
	"owner": true, "group": true, "atime": true, "noatime": true,
	"relatime": true, "norelatime": true, "strictatime": true,
	"nostrictatime": true, "lazytime": true, "nolazytime": true,
	"diratime": true, "nodiratime": true, "async": true,
}

// ignoredMountPrefixes are option families for other programs: systemd's
// unit settings, userspace comments and helpers.
var ignoredMountPrefixes = []string{"x-", "comment=", "helper=", "uhelper="}

// isMountHelperForm reports whether args (after the program name) are the
// mount(8) form rather than a subcommand: an -o option, or exactly two
// arguments of which the first is a directory. A mistyped command name
// still gets "unknown command".
func isMountHelperForm(args []string) bool {
	pos := 0
	for _, a := range args {
		if a == "-o" || strings.HasPrefix(a, "-o") && len(a) > 2 {
			return true
		}
		if !strings.HasPrefix(a, "-") {
			pos++
		}
	}
	if pos != 2 || strings.HasPrefix(args[0], "-") {
		return false
	}
	fi, err := os.Stat(args[0])
	return err == nil && fi.IsDir()
}

// mountHelperArgs converts "BACKING MOUNTPOINT -o OPTIONS" (-o before,
// between or after the two arguments, given once or more, also as
// -oOPTIONS) into arguments for runMount. An unknown or malformed option
// is a usage error naming it.
func mountHelperArgs(args []string) ([]string, error) {
	var pos, out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var opts string
		switch {
		case a == "-o":
			if i+1 == len(args) {
				return nil, usageErrorf("mount: -o needs a list of options")
			}
			i++
			opts = args[i]
		case strings.HasPrefix(a, "-o"):
			opts = a[2:]
		case a == "-f" || a == "--foreground":
			// As in other FUSE file systems: stay in the foreground.
			out = append(out, "--foreground")
			continue
		case strings.HasPrefix(a, "-") && a != "-":
			return nil, usageErrorf("mount: unknown flag %s in the mount(8) form (use -o OPTIONS)", a)
		default:
			pos = append(pos, a)
			continue
		}
		flags, err := translateMountOptions(opts)
		if err != nil {
			return nil, err
		}
		out = append(out, flags...)
	}
	if len(pos) != 2 {
		return nil, usageErrorf("mount: the mount(8) form is: fernetfs BACKING MOUNTPOINT -o OPTIONS")
	}
	return append(append(out, "--"), pos...), nil
}

// translateMountOptions turns one comma-separated -o list into flags.
func translateMountOptions(list string) ([]string, error) {
	var out []string
	for _, opt := range strings.Split(list, ",") {
		if opt == "" || ignoredMountOptions[opt] || hasAnyPrefix(opt, ignoredMountPrefixes) {
			continue
		}
		name, value, hasValue := strings.Cut(opt, "=")
		ho, ok := mountHelperOptions[name]
		switch {
		case !ok:
			return nil, usageErrorf("mount: unknown mount option %q", opt)
		case ho.hasValue && value == "":
			return nil, usageErrorf("mount: mount option %q needs a value (%s=...)", opt, name)
		case !ho.hasValue && hasValue:
			return nil, usageErrorf("mount: mount option %q takes no value", opt)
		case ho.hasValue:
			out = append(out, ho.flag+"="+value)
		default:
			out = append(out, ho.flag)
		}
	}
	return out, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// describeMountHelper is the paragraph of "fernetfs mount --help" on the
// fstab form.
const describeMountHelper = `
From /etc/fstab (type fuse.fernetfs), mount(8) runs
"fernetfs BACKING MOUNTPOINT -o OPTIONS". Options: ro, allow_other, noexec,
shared_storage, idle=DUR, passfile=FILE, passcmd=CMD (or
password_command=CMD), recovery_key_file=FILE, log=FILE, debug, reverse
(BACKING is then a plain folder, see --reverse), exclude_from=FILE; generic
ones (rw, defaults, nofail, _netdev, auto, noauto, user, x-systemd.*, ...)
are accepted and ignored.
Mounts are always nosuid and nodev. An unknown option fails with status 2.`
