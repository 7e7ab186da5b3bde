package vault

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WalkEntry is one node of the plaintext tree as Walk visits it.
type WalkEntry struct {
	// Path is the plaintext path, slash-separated, "" for the root. For an
	// entry whose name does not decode it is the path of its directory.
	Path string
	// BackingPath is the entry's path in the backing directory.
	BackingPath string
	// Info is the backing entry's lstat (so Size is the ciphertext size;
	// Name is the plaintext name; Sys is *syscall.Stat_t as with os.Lstat).
	// It is nil if the entry could not be stat'ed.
	Info os.FileInfo
	// Err is set when the entry could not be decoded, stat'ed, opened or
	// listed; Walk reports it and goes on with the rest of the tree.
	Err error
}

// Walk visits the whole plaintext tree depth-first, each directory's
// entries sorted by plaintext name so fsck and decrypt output is
// reproducible. fn returning fs.SkipDir skips a directory (or, for a
// non-directory, the rest of its directory); fs.SkipAll ends the walk
// cleanly; any other error stops the walk and is returned. Walk returns
// an error itself only if the root cannot be opened.
func (v *Vault) Walk(fn func(e WalkEntry) error) error {
	root, err := v.OpenRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	var st unix.Stat_t
	if err := unix.Fstat(root.fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: v.dir, Err: err}
	}
	err = fn(WalkEntry{Path: "", BackingPath: v.dir, Info: newWalkInfo(".", &st)})
	if err == nil {
		err = v.walkDir(root, "", v.dir, fn)
	}
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

func (v *Vault) walkDir(d *Dir, dirPath, dirBacking string, fn func(WalkEntry) error) error {
	ents, err := d.List()
	if err != nil {
		return skipDirOK(fn(WalkEntry{Path: dirPath, BackingPath: dirBacking, Err: err}))
	}
	slices.SortFunc(ents, func(a, b DirEntry) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Backing, b.Backing))
	})
	for _, e := range ents {
		we := WalkEntry{Path: path.Join(dirPath, e.Name), BackingPath: filepath.Join(dirBacking, e.Backing)}
		name := e.Name
		if e.Err != nil {
			we.Path, we.Err, name = dirPath, e.Err, e.Backing
		}
		var st unix.Stat_t
		if err := unix.Fstatat(d.fd, e.Backing, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if we.Err == nil {
				we.Err = &os.PathError{Op: "lstat", Path: we.BackingPath, Err: err}
			}
		} else {
			we.Info = newWalkInfo(name, &st)
		}
		var sub *Dir
		if we.Err == nil && we.Info.IsDir() {
			if sub, err = d.openBacking(e.Backing); err != nil {
				we.Err = err
			}
		}
		err := fn(we)
		if sub == nil {
			if err == fs.SkipDir {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		if err == nil {
			err = v.walkDir(sub, we.Path, we.BackingPath, fn)
		}
		sub.Close()
		if err != nil && err != fs.SkipDir {
			return err
		}
	}
	return nil
}

// skipDirOK maps fs.SkipDir to "go on with the parent".
func skipDirOK(err error) error {
	if err == fs.SkipDir {
		return nil
	}
	return err
}

// ResolvePath translates a plaintext path ("a/b/c", relative to the vault
// root) into its backing path, checking that every component exists, for
// commands like `cat` that start from a path rather than a mount.
// A missing component gives an error wrapping fs.ErrNotExist.
func (v *Vault) ResolvePath(plainPath string) (backingPath string, err error) {
	var parts []string
	for _, p := range strings.Split(plainPath, "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return v.dir, nil
	}
	d, err := v.OpenRoot()
	if err != nil {
		return "", err
	}
	defer func() { d.Close() }()
	backing := make([]string, 0, len(parts)+1)
	backing = append(backing, v.dir)
	for i, p := range parts {
		where := strings.Join(parts[:i+1], "/")
		b, err := d.BackingName(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", where, err)
		}
		backing = append(backing, b)
		if i == len(parts)-1 {
			var st unix.Stat_t
			if err := unix.Fstatat(d.fd, b, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return "", fmt.Errorf("%s: %w", where, err)
			}
			break
		}
		sub, err := d.openBacking(b)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the backing path says nothing useful here
			}
			return "", fmt.Errorf("%s: %w", where, err)
		}
		d.Close()
		d = sub
	}
	return filepath.Join(backing...), nil
}

// walkInfo is an os.FileInfo built from an *at stat, since the os package
// only stats by path.
type walkInfo struct {
	name string
	st   syscall.Stat_t
}

var _ os.FileInfo = (*walkInfo)(nil)

// unix.Stat_t and syscall.Stat_t both mirror the kernel's struct stat;
// these fail to compile if their sizes ever differ.
var (
	_ [unsafe.Sizeof(syscall.Stat_t{}) - unsafe.Sizeof(unix.Stat_t{})]byte
	_ [unsafe.Sizeof(unix.Stat_t{}) - unsafe.Sizeof(syscall.Stat_t{})]byte
)

func newWalkInfo(name string, st *unix.Stat_t) *walkInfo {
	return &walkInfo{name: name, st: *(*syscall.Stat_t)(unsafe.Pointer(st))}
}

func (s *walkInfo) Name() string       { return s.name }
func (s *walkInfo) Size() int64        { return s.st.Size }
func (s *walkInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *walkInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *walkInfo) Sys() any           { return &s.st }

func (s *walkInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	}
	if s.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
