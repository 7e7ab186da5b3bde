package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// fuseType is the filesystem type our mounts have in /proc/self/mountinfo
// (go-fuse mounts as "fuse." + the name we give it).
const fuseType = "fuse.fernetfs"

func unmountCommand() *command {
	return &command{
		name:     "unmount",
		synopsis: "MOUNTPOINT",
		summary:  "unmount a mounted vault",
		help: `
Unmount the fernetfs mount at MOUNTPOINT; its background process then
syncs and exits. Other kinds of mounts are refused. If files on the mount
are still open (or a shell is in it), unmounting fails and says so.`,
		run: runUnmount,
	}
}

func runUnmount(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	pos, err := f.parseN(e, args, "MOUNTPOINT")
	if err != nil {
		return err
	}
	mnt, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	m, err := findMount(mnt)
	if err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("%s is not mounted", mnt)
	}
	if m.fstype != fuseType {
		return fmt.Errorf("%s is a %s mount, not fernetfs; refusing to unmount it", mnt, m.fstype)
	}
	if err := unmount(mnt, false); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%s is busy: close the files open on it (or leave it in your shell) and try again", mnt)
		}
		return fmt.Errorf("unmount %s: %w", mnt, err)
	}
	return nil
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point, fstype, source string
}

// findMount returns the topmost mount at exactly dir, or nil. The
// mountinfo table is what the kernel itself uses, so a dead FUSE mount
// (whose stat fails) is still found.
func findMount(dir string) (*mountEntry, error) {
	dir = filepath.Clean(dir)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	var found *mountEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		if unescapeMountField(fields[4]) == dir {
			found = &mountEntry{
				point:  dir,
				fstype: fields[sep+1],
				source: unescapeMountField(fields[sep+2]),
			}
		}
	}
	return found, sc.Err()
}

// unescapeMountField undoes mountinfo's octal escapes (\040 for space).
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if c, ok := octalByte(s[i+1 : i+4]); ok {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octalByte(s string) (byte, bool) {
	var c int
	for _, d := range s {
		if d < '0' || d > '7' {
			return 0, false
		}
		c = c*8 + int(d-'0')
	}
	return byte(c), c < 256
}

// unmount unmounts a FUSE mount: with umount(2) as root, else through
// the setuid fusermount3 helper. lazy detaches a busy mount.
func unmount(mnt string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		return syscall.Unmount(mnt, flags)
	}
	bin, err := exec.LookPath("fusermount3")
	if err != nil {
		if bin, err = exec.LookPath("fusermount"); err != nil {
			return errors.New("fusermount3 not found (install the fuse3 package)")
		}
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command(bin, append(args, "--", mnt)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "busy") {
			return fmt.Errorf("%s: %w", msg, syscall.EBUSY)
		}
		if msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}

// lazyUnmount detaches a busy mount so the serving process can end once
// the last file on it is closed.
func lazyUnmount(mnt string) error { return unmount(mnt, true) }
