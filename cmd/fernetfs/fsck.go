package main

import (
	"fmt"
	"io/fs"
	"os"
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
IV, every name, every symlink target and every chunk of every file (MAC,
position, file end). Each problem is printed with the plaintext path where
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
		fmt.Fprintln(e.stdout, msg)
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
		case mode.IsRegular():
			st.files++
			before := st.bytes
			if err := fsckFile(v, w.BackingPath, name, &st, problem); err != nil {
				problem(name, err)
			}
			prog.add(1, st.bytes-before)
		case mode&fs.ModeSymlink != 0:
			st.symlinks++
			if err := fsckSymlink(v, w.BackingPath); err != nil {
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

// fsckFile checks every chunk of one file, reporting each bad chunk. The
// returned error is for a failure to check at all (open, I/O); chunk
// problems were already reported.
func fsckFile(v *vault.Vault, backing, name string, st *fsckStats, problem func(string, error)) error {
	c, f, err := openContent(v, backing, name)
	if err != nil {
		return err
	}
	defer f.Close()
	defer c.Close()
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

// fsckSymlink decrypts one symlink target.
func fsckSymlink(v *vault.Vault, backing string) error {
	tok, err := os.Readlink(backing)
	if err != nil {
		return err
	}
	_, err = v.DecryptSymlink(tok)
	return err
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
