package main

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/fernetfs/fernetfs/vault"
)

func fsckCommand() *command {
	return &command{
		name:     "fsck",
		synopsis: "BACKING",
		summary:  "verify every file, name and symlink of a vault",
		help: `
Unlock the vault and check all of it without mounting: every directory's
IV, every name, every symlink target, every chunk of every file (MAC,
position, file end) and every extended attribute's name and value. Each problem is printed with the plaintext path where
it is known (the backing path otherwise), then a summary line. Exit status
5 if any problem was found, 0 if the vault is sound.`,
		run: runFsck,
	}
}

// fsckStats is what fsck counts for its summary line.
type fsckStats struct {
	files, dirs, symlinks, other, bytes, problems int64
}

func runFsck(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	pos, err := f.parseN(e, args, "BACKING")
	if err != nil {
		return err
	}
	if err := cred.check(c.name); err != nil {
		return err
	}
	v, err := unlock(e, &cred, pos[0])
	if err != nil {
		return err
	}
	var st fsckStats
	prog := newProgress(e, "fsck: checked")
	problem := func(where string, err error) {
		st.problems++
		prog.clear()
		msg := err.Error()
		if !strings.Contains(msg, where) {
			msg = where + ": " + msg
		}
		fmt.Fprintln(e.stdout, escapeControl(strings.Join(strings.Fields(msg), " ")))
	}
	err = v.Walk(func(w vault.WalkEntry) error {
		name := displayPath(w.Path)
		if w.Err != nil {
			// An undecodable name has its directory's path; the error
			// names the backing entry.
			problem(name, w.Err)
			return nil
		}
		switch mode := w.Info.Mode(); {
		case mode.IsDir():
			st.dirs++
			fsckXattrs(v, w.Dir.Fd(), name, problem)
		case mode.IsRegular():
			st.files++
			before := st.bytes
			if err := fsckFile(v, w, name, &st, problem); err != nil {
				problem(name, err)
			}
			prog.add(1, st.bytes-before)
		case mode&fs.ModeSymlink != 0:
			st.symlinks++
			if _, err := w.Parent.ReadSymlink(w.Backing); err != nil {
				problem(name, err)
			}
		default:
			st.other++
		}
		return nil
	})
	prog.clear()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "fsck %s: %d files (%s), %d directories, %d symlinks, %d other: ",
		v.Dir(), st.files, formatBytes(st.bytes), st.dirs, st.symlinks, st.other)
	if st.problems == 0 {
		fmt.Fprintln(e.stdout, "no problems")
		return nil
	}
	fmt.Fprintf(e.stdout, "%d %s\n", st.problems, plural(st.problems, "problem", "problems"))
	return fmt.Errorf("%w: %d %s found in vault %s", vault.ErrCorrupt, st.problems,
		plural(st.problems, "problem", "problems"), v.Dir())
}

// fsckFile checks every chunk and every xattr of one file, reporting
// each bad one. The returned error is for a failure to check at all
// (open, I/O); chunk problems were already reported.
func fsckFile(v *vault.Vault, w vault.WalkEntry, name string, st *fsckStats, problem func(string, error)) error {
	c, f, err := w.Parent.OpenContent(w.Backing, name)
	if err != nil {
		return err
	}
	defer f.Close()
	defer c.Close()
	fsckXattrs(v, int(f.Fd()), name, problem)
	size, err := c.Size()
	if err == nil {
		st.bytes += size
	}
	bad := 0
	cerr := c.Check(func(chunk int64, err error) {
		bad++
		problem(name, err)
	})
	if cerr != nil && bad == 0 {
		return cerr
	}
	return nil
}

// fsckXattrs decrypts every user.* attribute name and value of the file
// or directory open as fd, reporting each one that fails.
func fsckXattrs(v *vault.Vault, fd int, name string, problem func(string, error)) {
	xs, err := v.ReadXattrs(fd)
	if err != nil {
		problem(name, err)
		return
	}
	for _, x := range xs {
		if x.Err != nil {
			problem(name, fmt.Errorf("%s: xattr: %w", name, x.Err))
		}
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
