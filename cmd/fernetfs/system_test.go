//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdInstallHelper makes fernetfs callable by mount(8) for type
// fuse.fernetfs: "installhelper". mount(8) clears PATH before it runs
// mount.fuse3, whose shell then finds programs in the default PATH
// only, so the test binary's fernetfs is linked as
// /usr/local/bin/fernetfs and removed when the script ends. FSTYPE is
// set to the type to mount with. If /usr/local/bin/fernetfs is already
// there (a real install), it is left alone and FSTYPE names the test's
// fernetfs by absolute path instead (fuse./path/to/fernetfs, which
// mount.fuse3 also accepts).
func cmdInstallHelper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: installhelper")
	}
	self, err := exec.LookPath("fernetfs")
	ts.Check(err)
	const installed = "/usr/local/bin/fernetfs"
	if _, err := os.Lstat(installed); err == nil {
		ts.Logf("%s exists; mounting with type fuse.%s", installed, self)
		ts.Setenv("FSTYPE", "fuse."+self)
		return
	}
	ts.Check(os.Symlink(self, installed))
	ts.Defer(func() { os.Remove(installed) })
	ts.Setenv("FSTYPE", "fuse.fernetfs")
}

// printedLogRE finds the log file a background mount names on stdout.
var printedLogRE = regexp.MustCompile(`go to (/\S+)`)

// cmdPrintedLog sets LOGFILE to the log file the last command named on
// stdout, and removes that file when the script ends: "printedlog".
func cmdPrintedLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: printedlog")
	}
	m := printedLogRE.FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("no log file named in stdout")
	}
	ts.Setenv("LOGFILE", m[1])
	ts.Defer(func() { os.Remove(m[1]) })
}

// scriptCondition answers the script conditions [syslog] (/dev/log
// exists) and [mounthelper] (mount, umount and mount.fuse3 are
// installed; when CI is set their absence is an error, not a skip).
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "syslog":
		_, err := os.Stat(syslogSocket)
		return err == nil, nil
	case "mounthelper":
		for _, tool := range []string{"mount", "umount", "mount.fuse3"} {
			if _, err := exec.LookPath(tool); err != nil {
				if _, err := os.Stat(filepath.Join("/sbin", tool)); err != nil {
					if os.Getenv("CI") != "" {
						return false, fmt.Errorf("%s is not installed (apt-get install fuse3)", tool)
					}
					return false, nil
				}
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// TestMountHelperArgs: the mount(8) form becomes "mount" flags, with -o
// anywhere, generic options ignored and bad ones named.
func TestMountHelperArgs(t *testing.T) {
	dir := t.TempDir()
	good := []struct {
		in   []string
		want string
	}{
		{[]string{"b", "m", "-o", "ro,allow_other,passfile=/p w,dev,suid,nofail,_netdev,x-systemd.automount"},
			"--read-only --allow-other --password-file=/p w -- b m"},
		{[]string{"-o", "idle=30m,passcmd=pass show x", "b", "m", "-orecovery_key_file=/k"},
			"--idle=30m --password-command=pass show x --recovery-key-file=/k -- b m"},
		{[]string{"b", "m", "-o", "password_command=echo a=b,rw,defaults,noexec,shared_storage,log=/l,noauto,user,users"},
			"--password-command=echo a=b --noexec --shared-storage --log=/l -- b m"},
		{[]string{"b", "m"}, "-- b m"},
	}
	for _, g := range good {
		got, err := mountHelperArgs(g.in)
		if err != nil || strings.Join(got, " ") != g.want {
			t.Errorf("%q: %q, %v; want %q", g.in, got, err, g.want)
		}
	}
	bad := map[string][]string{
		`unknown mount option "bogus"`:           {"b", "m", "-o", "ro,bogus"},
		`unknown mount option "shared-storage"`:  {"b", "m", "-o", "shared-storage"},
		`mount option "passfile" needs a value`:  {"b", "m", "-o", "passfile"},
		`mount option "passfile=" needs a value`: {"b", "m", "-o", "passfile="},
		`mount option "ro=1" takes no value`:     {"b", "m", "-o", "ro=1"},
		`-o needs a list`:                        {"b", "m", "-o"},
		`the mount(8) form is`:                   {"b", "-o", "ro"},
		`unknown flag -x`:                        {"b", "m", "-x"},
	}
	for want, in := range bad {
		_, err := mountHelperArgs(in)
		if err == nil || !strings.Contains(err.Error(), want) || exitCode(err) != exitUsage {
			t.Errorf("%q: %v (status %d); want %q, status 2", in, err, exitCode(err), want)
		}
	}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{dir, "m"}, true},
		{[]string{"nothere", "m", "-o", "ro"}, true},
		{[]string{"moutn", "b", "m"}, false},
		{[]string{"nothere", "m"}, false},
		{[]string{"--version"}, false},
	} {
		if got := isMountHelperForm(c.args); got != c.want {
			t.Errorf("isMountHelperForm(%q) = %v", c.args, got)
		}
	}
}

// TestDefaultLogFile: root logs under /var/log, users under their state
// directory, one file per mountpoint.
func TestDefaultLogFile(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		uid  int
		xdg  string
		want string
	}{
		{0, "", "/var/log/fernetfs/home-u-mnt.log"},
		{0, "/root/st", "/root/st/fernetfs/home-u-mnt.log"},
		{1000, "", "/home/u/.local/state/fernetfs/home-u-mnt.log"},
		{1000, "/st", "/st/fernetfs/home-u-mnt.log"},
		{1000, "relative", "/home/u/.local/state/fernetfs/home-u-mnt.log"},
	} {
		env["XDG_STATE_HOME"] = c.xdg
		if got, err := defaultLogFile(getenv, c.uid, "/home/u/mnt"); err != nil || got != c.want {
			t.Errorf("uid %d XDG_STATE_HOME=%q: %q, %v; want %q", c.uid, c.xdg, got, err, c.want)
		}
	}
}

// TestSdNotify: READY=1 reaches a socket listening like systemd's, at a
// path and in the abstract namespace; without NOTIFY_SOCKET nothing is
// sent.
func TestSdNotify(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@fernetfs-test-notify-" + filepath.Base(t.TempDir())} {
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{notifySocketEnv: name}
		if err := sdNotify(func(k string) string { return env[k] }, "READY=1"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := conn.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte("READY=1")) {
			t.Errorf("%s: got %q, %v", name, buf[:n], err)
		}
		conn.Close()
	}
	if err := sdNotify(func(string) string { return "" }, "READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
	if err := sdNotify(func(string) string { return "relative" }, "READY=1"); err == nil {
		t.Error("relative NOTIFY_SOCKET accepted")
	}
}

// notifySockets holds each script's listening notify socket.
var notifySockets sync.Map // *testscript.TestScript -> *net.UnixConn

// cmdNotifyListen listens like systemd on $WORK/notify and sets
// NOTIFY_SOCKET to it: "notifylisten".
func cmdNotifyListen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: notifylisten")
	}
	name := ts.MkAbs("notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	ts.Check(err)
	notifySockets.Store(ts, conn)
	ts.Defer(func() {
		notifySockets.Delete(ts)
		conn.Close()
	})
	ts.Setenv(notifySocketEnv, name)
}

// cmdNotified waits (up to 20 s, a bound for a hang) for the next
// message on the notify socket and matches it against REGEXP:
// "notified REGEXP".
func cmdNotified(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: notified REGEXP")
	}
	c, ok := notifySockets.Load(ts)
	if !ok {
		ts.Fatalf("notified: no notifylisten")
	}
	conn := c.(*net.UnixConn)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	ts.Check(err)
	if !regexp.MustCompile(args[0]).Match(buf[:n]) {
		ts.Fatalf("notify message %q does not match %q", buf[:n], args[0])
	}
}

// TestFernetfsVersion: the module version, and the git revision when the
// build recorded one.
func TestFernetfsVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, "fernetfs (unknown version)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "fernetfs v1.2.3"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("56ac774f0c1e2d3b4a5968778695a4b3c2d1e0f9", "false")},
			"fernetfs (devel) git 56ac774f0c1e"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("56ac774f0c1e2d3b4a5968778695a4b3c2d1e0f9", "true")},
			"fernetfs (devel) git 56ac774f0c1e+modified"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261204213827-56ac774f0c1e+dirty"}, Settings: vcs("56ac774f0c1e2d3b4a5968778695a4b3c2d1e0f9", "true")},
			"fernetfs v0.0.0-20261204213827-56ac774f0c1e+dirty"},
	} {
		if got := fernetfsVersion(c.bi); got != c.want {
			t.Errorf("%+v: %q, want %q", c.bi, got, c.want)
		}
	}
	bi := &debug.BuildInfo{Deps: []*debug.Module{{Path: goFuseModule, Version: "v2.12.1"}}}
	if got := depVersion(bi, goFuseModule); got != "v2.12.1" {
		t.Errorf("go-fuse version %q", got)
	}
}

// FuzzMountHelperArgs: any argument list either fails as a usage error or
// gives "mount" flags (each a known flag, values kept whole) followed by
// "--" and exactly two arguments.
func FuzzMountHelperArgs(f *testing.F) {
	f.Add("b", "m", "ro,allow_other,passfile=/p,nofail")
	f.Add("-o", "b", "m")
	f.Add("b", "m", "idle=,x-systemd.automount,,=")
	f.Add("b", "m", "passcmd=a=b,comment=x")
	known := map[string]bool{}
	for _, o := range mountHelperOptions {
		known[o.flag] = true
	}
	known["--foreground"] = true
	f.Fuzz(func(t *testing.T, a, b, opts string) {
		for _, args := range [][]string{{a, b, "-o", opts}, {"-o", opts, a, b}, {a, b, "-o" + opts}} {
			out, err := mountHelperArgs(args)
			if err != nil {
				if exitCode(err) != exitUsage {
					t.Fatalf("%q: error with status %d: %v", args, exitCode(err), err)
				}
				continue
			}
			if len(out) < 3 || out[len(out)-3] != "--" {
				t.Fatalf("%q: %q does not end in -- and two arguments", args, out)
			}
			for _, fl := range out[:len(out)-3] {
				name, _, _ := strings.Cut(fl, "=")
				if !known[name] {
					t.Fatalf("%q: unexpected flag %q", args, fl)
				}
			}
		}
	})
}
