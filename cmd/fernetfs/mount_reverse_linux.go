package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fernetfs/fernetfs/fs"
	"github.com/fernetfs/fernetfs/vault"
)

// reverseFlags are mount's reverse-mode flags.
type reverseFlags struct {
	reverse     bool
	exclude     []string
	excludeFrom string
}

func (r *reverseFlags) register(f *flagSet) {
	f.BoolVar(&r.reverse, "reverse", false, "mount an encrypted, read-only view of the plain folder PLAINDIR (see init --reverse)")
	f.Var(stringList{&r.exclude}, "exclude", "with --reverse: leave out paths matching `PATTERN` (gitignore style, relative to PLAINDIR; repeatable)")
	f.StringVar(&r.excludeFrom, "exclude-from", "", "with --reverse: read exclude patterns from `FILE`, one a line")
}

// load checks the flags' combination and reads --exclude-from into
// exclude, so the background process gets every pattern on its command
// line and a bad file fails before any password prompt.
func (r *reverseFlags) load(mf *mountFlags) error {
	if !r.reverse {
		if len(r.exclude) > 0 || r.excludeFrom != "" {
			return usageErrorf("mount: --exclude and --exclude-from need --reverse")
		}
		return nil
	}
	if mf.idle > 0 {
		return usageErrorf("mount: --idle does not work with --reverse")
	}
	if r.excludeFrom != "" {
		f, err := os.Open(r.excludeFrom)
		if err != nil {
			return fmt.Errorf("--exclude-from: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r.exclude = append(r.exclude, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("--exclude-from %s: %w", r.excludeFrom, err)
		}
		r.excludeFrom = ""
	}
	if err := fs.CheckExcludes(r.exclude); err != nil {
		return usageErrorf("mount: %v", err)
	}
	return nil
}

// daemonArgs are the flags that repeat the reverse options for the
// background process.
func (r *reverseFlags) daemonArgs() []string {
	if !r.reverse {
		return nil
	}
	args := []string{"--reverse"}
	for _, p := range r.exclude {
		args = append(args, "--exclude="+p)
	}
	return args
}

// runMountReverse is mount --reverse: unlock the reverse vault in plain
// and mount its view at view, in the foreground or background.
func runMountReverse(e *env, mf *mountFlags, plain, view string) error {
	mount := func(rv *vault.Reverse, logger *log.Logger) (*fuse.Server, error) {
		lockKeys(rv, logger)
		return fs.MountReverse(rv, view, fs.ReverseOptions{
			AllowOther: mf.allowOther, NoExec: mf.noexec, Debug: mf.debug,
			FsName: plain, Logger: logger, Exclude: mf.rev.exclude,
		})
	}
	if os.Getenv(daemonEnv) != "" {
		return daemonServe(e, mf, plain, "", view, func(key string, logger *log.Logger) (*fuse.Server, error) {
			rv, err := vault.UnlockReverse(plain, vault.Credential{RecoveryKey: key})
			if err != nil {
				return nil, err
			}
			return mount(rv, logger)
		})
	}
	if _, err := vault.ReadReverseHeader(plain); err != nil {
		return err
	}
	if rel, err := filepath.Rel(plain, view); err == nil && !strings.HasPrefix(rel, "..") {
		return usageErrorf("mount: the view %s must not be inside the folder %s it shows", view, plain)
	}
	if err := checkMountpoint(view); err != nil {
		return err
	}
	cred, err := mf.cred.credential(e, plain)
	if err != nil {
		return err
	}
	rv, err := vault.UnlockReverse(plain, cred)
	if err != nil {
		return err
	}
	if !mf.foreground {
		return startDaemon(e, mf, plain, rv.RecoveryKey(), view)
	}
	return serveForegroundWith(e, mf, plain, "", view, func(logger *log.Logger) (*fuse.Server, error) {
		return mount(rv, logger)
	})
}

// stringList is a repeatable string flag.
type stringList struct{ list *[]string }

func (s stringList) String() string {
	if s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}

func (s stringList) Set(v string) error {
	*s.list = append(*s.list, v)
	return nil
}
