package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// LostFound is the plaintext name of the directory in the vault root
// that RescueStray moves entries into. It is an ordinary encrypted
// directory, so it shows in the mount and decrypt restores it.
const LostFound = "lost+found"

// Rescued is one entry RescueStray moved: the backing name it had (in
// the directory Walk reported, w.Path) and the plaintext path it has now.
type Rescued struct {
	Backing string // backing name before
	To      string // plaintext path in lost+found, "/lost+found/NAME"
}

// RescueStray moves a stray entry that Walk reported (w.Stray: a name
// that no longer decrypts, or an orphaned long-name sidecar) into
// lost+found, creating that directory in the vault root if needed, so
// nothing is deleted and the data can be looked at through the mount.
// It must be called from Walk's callback for w.
//
// An entry is renamed there whole (a file keeps its content, which does
// not depend on its name; a directory its subtree) under its backing
// name as the plaintext name, with ".1", ".2"... added if taken. A
// long-name entry takes its sidecar along. An orphaned sidecar (the
// token of a name whose entry is gone) is not a content file, so its
// bytes become the content of a new file there, and the sidecar is
// removed once that is on disk.
func (v *Vault) RescueStray(w WalkEntry) ([]Rescued, error) {
	if !w.Stray || w.Parent == nil || w.Parent.fd < 0 {
		return nil, fmt.Errorf("%s: not a stray entry being walked", w.BackingPath)
	}
	root, err := v.OpenRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	lf, err := root.OpenDir(LostFound)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err = root.Mkdir(LostFound, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			if err = unix.Fsync(root.fd); err == nil {
				lf, err = root.OpenDir(LostFound)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", LostFound, err)
	}
	defer lf.Close()
	src := w.Parent
	var out []Rescued
	if errors.Is(w.Err, ErrOrphanSidecar) {
		to, err := v.rescueSidecar(src, lf, w.Backing)
		if err != nil {
			return nil, err
		}
		return append(out, Rescued{Backing: w.Backing, To: to}), nil
	}
	to, err := v.rescueEntry(src, lf, w.Backing)
	if err != nil {
		return nil, err
	}
	out = append(out, Rescued{Backing: w.Backing, To: to})
	if isLongName(w.Backing) && !v.PlaintextNames() {
		sc := LongNameSidecar(w.Backing)
		var st unix.Stat_t
		if unix.Fstatat(src.fd, sc, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			to, err := v.rescueSidecar(src, lf, sc)
			if err != nil {
				return out, err
			}
			out = append(out, Rescued{Backing: sc, To: to})
		}
	}
	return out, nil
}

// strayName is the k-th plaintext name to try for backing name b in
// lost+found: b itself, then b.1, b.2...; at most NAME_MAX bytes.
func strayName(b string, k int) string {
	suffix := ""
	if k > 0 {
		suffix = "." + strconv.Itoa(k)
	}
	if len(b)+len(suffix) > MaxNameLen {
		b = b[:MaxNameLen-len(suffix)]
	}
	return b + suffix
}

// maxStrayTries bounds the search for a free name in lost+found.
const maxStrayTries = 1000

// rescueEntry renames backing from src into lf under a free name.
func (v *Vault) rescueEntry(src, lf *Dir, backing string) (string, error) {
	for k := range maxStrayTries {
		name := strayName(backing, k)
		b, err := lf.PrepareName(name)
		if err != nil {
			return "", err
		}
		err = renameatNoReplace(src.fd, backing, lf.fd, b)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			lf.ForgetName(b)
			return "", src.pathErr("rename", backing, err)
		}
		if err := syncDirs(src, lf); err != nil {
			return "", err
		}
		return "/" + path.Join(LostFound, name), nil
	}
	return "", fmt.Errorf("%s: no free name for %q", LostFound, backing)
}

// rescueSidecar copies the bytes of sidecar (in src) into a new file of
// lf, then removes it.
func (v *Vault) rescueSidecar(src, lf *Dir, sidecar string) (string, error) {
	data, err := readSmallFileAt(src.fd, sidecar, maxSidecarLen)
	if err != nil {
		return "", src.pathErr("read", sidecar, err)
	}
	for k := range maxStrayTries {
		name := strayName(sidecar, k)
		b, err := lf.PrepareName(name)
		if err != nil {
			return "", err
		}
		var st unix.Stat_t
		fd, err := OpenBackingFile(lf.fd, b, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, &st)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", lf.pathErr("create", b, err)
		}
		to := "/" + path.Join(LostFound, name)
		f := os.NewFile(uintptr(fd), b)
		c := v.OpenContent(f, to)
		_, err = c.WriteAt(data, 0)
		c.Close()
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			unix.Unlinkat(lf.fd, b, 0)
			lf.ForgetName(b)
			return "", err
		}
		if err := unix.Unlinkat(src.fd, sidecar, 0); err != nil {
			return "", src.pathErr("unlink", sidecar, err)
		}
		if err := syncDirs(src, lf); err != nil {
			return "", err
		}
		return to, nil
	}
	return "", fmt.Errorf("%s: no free name for %q", LostFound, sidecar)
}

// syncDirs makes a move between two directories durable.
func syncDirs(ds ...*Dir) error {
	for _, d := range ds {
		if err := unix.Fsync(d.fd); err != nil {
			return d.pathErr("fsync", ".", err)
		}
	}
	return nil
}
