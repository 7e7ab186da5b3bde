package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// putCommand is the test-only "fernetfs-put": it creates vault entries
// without a mount, through the same vault Dir and Content APIs the mount
// uses, so CLI scripts can build vault contents. It is registered only in
// the test binary, never in commandTable.
func putCommand() *command {
	return &command{
		name:     "fernetfs-put",
		synopsis: "[--mkdir | --symlink TARGET | --fifo | --link OLDNAME] [--mode M] [--mtime T] [--size N] BACKING PATH < data",
		summary:  "test helper: write one vault entry",
		help: `
Create PATH in the vault (missing parent directories too): a regular file
holding stdin (extended with a hole to --size), a directory (or set the
mode and mtime of an existing one), a symlink, a fifo, or a hard link to
OLDNAME in the same directory.`,
		run: runPutCmd,
	}
}

// runPut runs fernetfs-put as a process would.
func runPut(e *env, args []string) int {
	c := putCommand()
	return fail(e, c.run(e, c, args))
}

func runPutCmd(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	mkdir := f.Bool("mkdir", false, "make a directory")
	fifo := f.Bool("fifo", false, "make a fifo")
	symlink := f.String("symlink", "", "make a symlink to `TARGET`")
	link := f.String("link", "", "hard-link to `OLDNAME` in the same directory")
	modeStr := f.String("mode", "", "permission bits, octal")
	mtimeStr := f.String("mtime", "", "modification time, RFC 3339")
	size := f.Int64("size", -1, "extend the file to `N` bytes (a hole)")
	pos, err := f.parseN(e, args, "BACKING", "PATH")
	if err != nil {
		return err
	}
	v, err := unlock(e, &cred, pos[0])
	if err != nil {
		return err
	}
	parts := strings.Split(strings.Trim(pos[1], "/"), "/")
	d, err := v.OpenRoot()
	if err != nil {
		return err
	}
	defer func() { d.Close() }()
	for _, p := range parts[:len(parts)-1] {
		sub, err := d.OpenDir(p)
		if errors.Is(err, fs.ErrNotExist) {
			if _, err = d.Mkdir(p, 0o755); err == nil {
				sub, err = d.OpenDir(p)
			}
		}
		if err != nil {
			return err
		}
		d.Close()
		d = sub
	}
	name := parts[len(parts)-1]
	mode := uint32(0o644)
	if *mkdir {
		mode = 0o755
	}
	if *modeStr != "" {
		m, err := strconv.ParseUint(*modeStr, 8, 32)
		if err != nil {
			return err
		}
		mode = uint32(m)
	}
	b, err := d.PrepareName(name)
	if err != nil {
		return err
	}
	switch {
	case *mkdir:
		// An existing directory just gets the new mode and mtime.
		if _, err = d.Mkdir(name, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case *symlink != "":
		if err := v.Symlinkat(*symlink, d.Fd(), b); err != nil {
			return err
		}
	case *fifo:
		if err := mkfifoAt(d.Fd(), b, mode); err != nil {
			return err
		}
	case *link != "":
		old, err := d.BackingName(*link)
		if err != nil {
			return err
		}
		return unix.Linkat(d.Fd(), old, d.Fd(), b, 0)
	default:
		fd, err := unix.Openat(d.Fd(), b, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, mode)
		if err != nil {
			return err
		}
		file := os.NewFile(uintptr(fd), b)
		defer file.Close()
		data, err := io.ReadAll(e.stdin)
		if err != nil {
			return err
		}
		content := v.OpenContent(file, pos[1])
		if _, err := content.WriteAt(data, 0); err != nil {
			return err
		}
		if *size >= 0 {
			if err := content.Truncate(*size); err != nil {
				return err
			}
		}
	}
	if *symlink == "" {
		if err := unix.Fchmodat(d.Fd(), b, mode, 0); err != nil {
			return err
		}
	}
	if *mtimeStr != "" {
		t, err := time.Parse(time.RFC3339, *mtimeStr)
		if err != nil {
			return err
		}
		ts := unix.NsecToTimespec(t.UnixNano())
		return unix.UtimesNanoAt(d.Fd(), b, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// cmdCorrupt damages one vault entry, found through the vault itself:
//
//	corrupt BACKING PATH OFFSET   flip a bit of the backing file at OFFSET (negative: from the end)
//	corrupt -name BACKING PATH    change the backing name so it no longer decrypts
//	corrupt -diriv BACKING PATH   flip a bit of directory PATH's IV file
//	corrupt -symlink BACKING PATH change symlink PATH's target token
//	corrupt -truncate BACKING PATH SIZE  cut the backing file to SIZE bytes
//	corrupt -punch BACKING PATH OFFSET   punch a hole from OFFSET to past the end
//	corrupt -orphan BACKING PATH  remove long-named PATH's entry, leaving its sidecar
//
// The password comes from $FERNETFS_PASSWORD.
func cmdCorrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: corrupt [-name|-diriv|-symlink|-truncate|-punch|-orphan] BACKING PATH [OFFSET|SIZE]")
	}
	mode := ""
	if strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	v, err := vault.Unlock(ts.MkAbs(args[0]), vault.Credential{Password: []byte(ts.Getenv(passwordEnv))})
	ts.Check(err)
	backing, err := v.ResolvePath(args[1])
	ts.Check(err)
	switch mode {
	case "-name":
		dir, base := filepath.Split(backing)
		// Swap two characters of the token: still base64, no longer valid.
		b := []byte(base)
		k := len(b) / 2
		for b[k] == b[k+1] {
			k++
		}
		b[k], b[k+1] = b[k+1], b[k]
		ts.Check(os.Rename(backing, filepath.Join(dir, string(b))))
	case "-symlink":
		tok, err := os.Readlink(backing)
		ts.Check(err)
		b := []byte(tok)
		b[len(b)/2] ^= 1
		ts.Check(os.Remove(backing))
		ts.Check(os.Symlink(string(b), backing))
	case "-truncate":
		if len(args) != 3 {
			ts.Fatalf("usage: corrupt -truncate BACKING PATH SIZE")
		}
		size, err := strconv.ParseInt(args[2], 10, 64)
		ts.Check(err)
		ts.Check(os.Truncate(backing, size))
	case "-punch":
		if len(args) != 3 {
			ts.Fatalf("usage: corrupt -punch BACKING PATH OFFSET")
		}
		off, err := strconv.ParseInt(args[2], 10, 64)
		ts.Check(err)
		f, err := os.OpenFile(backing, os.O_RDWR, 0)
		ts.Check(err)
		fi, err := f.Stat()
		ts.Check(err)
		// Past the end, so the page holding the end is freed too.
		err = punchHole(f, off, fi.Size()-off+1<<16)
		f.Close()
		ts.Check(err)
	case "-orphan":
		if _, err := os.Stat(vault.LongNameSidecar(backing)); err != nil {
			ts.Fatalf("corrupt -orphan: %s is not a long name: %v", args[1], err)
		}
		ts.Check(os.Remove(backing))
	case "-diriv":
		flipByte(ts, filepath.Join(backing, vault.DirIVName), 0)
	case "":
		if len(args) != 3 {
			ts.Fatalf("usage: corrupt BACKING PATH OFFSET")
		}
		off, err := strconv.Atoi(args[2])
		ts.Check(err)
		flipByte(ts, backing, off)
	default:
		ts.Fatalf("corrupt: unknown option %s", mode)
	}
	fmt.Fprintf(ts.Stdout(), "corrupted %s\n", backing)
}
