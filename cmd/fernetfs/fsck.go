package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

func fsckCommand() *command {
	return &command{
		name:     "fsck",
		synopsis: "[--repair] BACKING",
		summary:  "verify every file, name and symlink of a vault",
		help: `
Unlock the vault and check all of it without mounting: every directory's
IV, every name, every symlink target, every chunk of every file (MAC,
position, file end) and every extended attribute's name and value. Each problem is printed with the plaintext path where
it is known (the backing path otherwise), then a summary line; orphaned
long-name sidecars are reported too. Exit status 5 if any problem was
found, 0 if the vault is sound. Without --repair nothing is changed.

--repair salvages what a crash or a damaged copy left: chunks torn by a
crash during an in-place write are put back from the undo journal the
mount left (fernetfs.journal.*, removed afterwards); a file with a torn
tail is cut back to its longest valid prefix (the last good chunk sealed
again as the final one); names that no longer decrypt and orphaned
long-name sidecars are moved into the directory lost+found in the vault
root, never deleted; an extended attribute whose name or value does not
decrypt is removed. A valid chunk is never dropped: damage followed by
valid chunks is reported and left alone. Each change is printed with the
plaintext path. Exit status 0 if every problem was repaired, 5 if some
remain (run fsck again to see them).`,
		run: runFsck,
	}
}

// fsckStats is what fsck counts for its summary line.
type fsckStats struct {
	files, dirs, symlinks, other, bytes, problems, fixed int64
}

func runFsck(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	repair := f.Bool("repair", false, "cut torn files back to their valid prefix, move undecryptable names and orphaned sidecars to lost+found")
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
	// Leftover undo journals (of mounts killed while writing) hold the
	// old copies of lines a crash may have torn.
	js, jerrs := v.OpenJournals(*repair)
	defer js.Close()
	problem := func(where string, err error) {
		st.problems++
		prog.clear()
		msg := err.Error()
		if !strings.Contains(msg, where) {
			msg = where + ": " + msg
		}
		fmt.Fprintln(e.stdout, escapeControl(strings.Join(strings.Fields(msg), " ")))
	}
	changed := func(format string, args ...any) {
		prog.clear()
		fmt.Fprintln(e.stdout, escapeControl(fmt.Sprintf(format, args...)))
	}
	var dropXattr func(fd int, name string, x vault.Xattr)
	if *repair {
		dropXattr = func(fd int, name string, x vault.Xattr) {
			label := strconv.Quote(x.Name)
			if x.Name == "" {
				label = "stored as " + strconv.Quote(x.Backing)
			}
			if err := unix.Fremovexattr(fd, x.Backing); err != nil {
				changed("not repaired %s: xattr %s: %v", name, label, err)
				return
			}
			st.fixed++
			changed("repaired %s: removed damaged xattr %s", name, label)
		}
	}
	for _, err := range jerrs {
		problem(v.Dir(), err)
	}
	err = v.Walk(func(w vault.WalkEntry) error {
		name := displayPath(w.Path)
		if w.Err != nil {
			// An undecodable name has its directory's path; the error
			// names the backing entry.
			problem(name, w.Err)
			if *repair && w.Stray {
				moved, err := v.RescueStray(w)
				for _, m := range moved {
					changed("moved %s to %q", displayPath(path.Join(w.Path, m.Backing)), m.To)
				}
				if err != nil {
					changed("not repaired: %v", err)
				} else {
					st.fixed++
				}
			}
			return nil
		}
		switch mode := w.Info.Mode(); {
		case mode.IsDir():
			st.dirs++
			fsckXattrs(v, w.Dir.Fd(), name, problem, dropXattr)
		case mode.IsRegular():
			st.files++
			before := st.bytes
			bad, err := fsckFile(v, w, name, &st, problem, dropXattr)
			if err != nil {
				problem(name, err)
			}
			if !*repair && (bad > 0 || errors.Is(err, vault.ErrCorrupt)) {
				fsckJournal(w, name, js, changed)
			}
			if *repair && (bad > 0 || errors.Is(err, vault.ErrCorrupt)) && repairFile(w, name, js, changed) {
				st.fixed += bad
				if err != nil {
					st.fixed++
				}
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
	if *repair && len(js.Paths) > 0 && st.fixed < st.problems {
		changed("kept %d leftover %s: some problems remain", len(js.Paths), plural(int64(len(js.Paths)), "journal", "journals"))
	} else if *repair && len(js.Paths) > 0 {
		// Every torn line they could restore was put back above.
		if err := js.Remove(); err != nil {
			changed("not removed: leftover journal: %v", err)
		} else {
			changed("removed %d leftover %s", len(js.Paths), plural(int64(len(js.Paths)), "journal", "journals"))
		}
	}
	fmt.Fprintf(e.stdout, "fsck %s: %d files (%s), %d directories, %d symlinks, %d other: ",
		v.Dir(), st.files, formatBytes(st.bytes), st.dirs, st.symlinks, st.other)
	if st.problems == 0 {
		fmt.Fprintln(e.stdout, "no problems")
		return nil
	}
	if *repair {
		fmt.Fprintf(e.stdout, "%d %s, %d repaired\n", st.problems, plural(st.problems, "problem", "problems"), st.fixed)
		if st.fixed == st.problems {
			return nil
		}
		return fmt.Errorf("%w: %d %s found in vault %s, %d not repaired", vault.ErrCorrupt, st.problems,
			plural(st.problems, "problem", "problems"), v.Dir(), st.problems-st.fixed)
	}
	fmt.Fprintf(e.stdout, "%d %s\n", st.problems, plural(st.problems, "problem", "problems"))
	return fmt.Errorf("%w: %d %s found in vault %s", vault.ErrCorrupt, st.problems,
		plural(st.problems, "problem", "problems"), v.Dir())
}

// fsckFile checks every chunk and every xattr of one file, reporting
// each bad one; bad counts the bad chunks. The returned error is for
// a failure to check at all (open, I/O, a size that fits no layout);
// chunk problems were already reported.
func fsckFile(v *vault.Vault, w vault.WalkEntry, name string, st *fsckStats, problem func(string, error),
	dropXattr func(int, string, vault.Xattr)) (bad int64, err error) {
	c, f, err := w.Parent.OpenContent(w.Backing, name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	defer c.Close()
	fsckXattrs(v, int(f.Fd()), name, problem, dropXattr)
	size, err := c.Size()
	if err == nil {
		st.bytes += size
	}
	cerr := c.Check(func(chunk int64, err error) {
		bad++
		problem(name, err)
	})
	if cerr != nil && bad == 0 {
		return 0, cerr
	}
	return bad, nil
}

// repairFile cuts a damaged file back to its valid prefix
// (vault.Content.RepairTail) and says what it did, or why not; it
// reports whether the file is sound now.
func repairFile(w vault.WalkEntry, name string, js *vault.Journals, changed func(string, ...any)) bool {
	c, f, err := w.Parent.OpenContentRW(w.Backing, name)
	if err != nil {
		changed("not repaired %s: %v", name, err)
		return false
	}
	defer f.Close()
	defer c.Close()
	put, err := c.RestoreTorn(js, true)
	if len(put) > 0 {
		changed("repaired %s: put back %s %v from the undo journal", name, plural(int64(len(put)), "torn chunk", "torn chunks"), put)
	}
	if err != nil {
		changed("not repaired %s: %v", name, err)
		return false
	}
	if len(put) > 0 && c.Check(nil) == nil {
		return true
	}
	r, err := c.RepairTail()
	switch {
	case err != nil:
		changed("not repaired %s: %v", name, err)
		return false
	case !r.Changed:
		changed("not repaired %s: its tail is sound", name)
		return false
	}
	how := ""
	if r.Resealed {
		how = " (its last chunk sealed again as the final one)"
	}
	changed("repaired %s: cut %d damaged %s from its end, kept %d %s%s", name,
		r.Cut, plural(r.Cut, "byte", "bytes"), r.Kept, plural(r.Kept, "byte", "bytes"), how)
	return true
}

// fsckJournal says which damaged chunks of a file a leftover undo
// journal would put back (fsck without --repair changes nothing).
func fsckJournal(w vault.WalkEntry, name string, js *vault.Journals, say func(string, ...any)) {
	c, f, err := w.Parent.OpenContent(w.Backing, name)
	if err != nil {
		return
	}
	defer f.Close()
	defer c.Close()
	if put, err := c.RestoreTorn(js, false); err == nil && len(put) > 0 {
		say("%s: %s %v can be put back from the undo journal (fsck --repair)", name, plural(int64(len(put)), "torn chunk", "torn chunks"), put)
	}
}

// fsckXattrs decrypts every user.* attribute name and value of the file
// or directory open as fd, reporting each one that fails. With --repair
// (drop not nil) each one that fails is removed, as a torn tail is cut:
// its bytes cannot be decrypted, so removing it loses nothing that
// verifies, and a second fsck is clean.
func fsckXattrs(v *vault.Vault, fd int, name string, problem func(string, error), drop func(int, string, vault.Xattr)) {
	xs, err := v.ReadXattrs(fd)
	if err != nil {
		problem(name, err)
		return
	}
	for _, x := range xs {
		if x.Err != nil {
			problem(name, fmt.Errorf("%s: xattr: %w", name, x.Err))
			if drop != nil {
				drop(fd, name, x)
			}
		}
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
