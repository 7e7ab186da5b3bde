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
	"strconv"
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
	// BackingPath is the entry's path in the backing directory, for
	// messages only: it may exceed PATH_MAX, so nothing opens it. Reach
	// the entry through Parent and Backing instead.
	BackingPath string
	// Depth is 0 for the root, 1 for its entries, and so on. An entry
	// reporting that a directory could not be listed has the depth of
	// that directory's entries.
	Depth int
	// Parent is the open directory holding the entry (nil for the root),
	// and Backing the entry's name in it. Both are valid only while fn
	// runs.
	Parent  *Dir
	Backing string
	// Dir is the opened directory itself for a directory entry (and the
	// root), valid only while fn runs; nil otherwise.
	Dir *Dir
	// Info is the backing entry's lstat (so Size is the ciphertext size;
	// Name is the plaintext name; Sys is *syscall.Stat_t as with os.Lstat).
	// It is nil if the entry could not be stat'ed.
	Info os.FileInfo
	// Err is set when the entry could not be decoded, stat'ed, opened or
	// listed; Walk reports it and goes on with the rest of the tree.
	Err error
	// Stray is set when Err is about the backing name itself: a name
	// that does not decrypt here, or an orphaned long-name sidecar
	// (Err wraps ErrOrphanSidecar). RescueStray moves such an entry to
	// lost+found.
	Stray bool
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
	err = fn(WalkEntry{Path: "", BackingPath: v.dir, Info: newWalkInfo(".", &st), Dir: root})
	if err == nil {
		err = v.walkDir(root, "", v.dir, 1, fn)
	}
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

func (v *Vault) walkDir(d *Dir, dirPath, dirBacking string, depth int, fn func(WalkEntry) error) error {
	ents, err := d.list(true)
	if err != nil {
		return skipDirOK(fn(WalkEntry{Path: dirPath, BackingPath: dirBacking, Depth: depth, Err: err}))
	}
	slices.SortFunc(ents, func(a, b DirEntry) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Backing, b.Backing))
	})
	for _, e := range ents {
		we := WalkEntry{
			Path:        path.Join(dirPath, e.Name),
			BackingPath: filepath.Join(dirBacking, e.Backing),
			Depth:       depth,
			Parent:      d,
			Backing:     e.Backing,
		}
		name := e.Name
		if e.Err != nil {
			we.Path, we.Err, we.Stray, name = dirPath, e.Err, true, e.Backing
		}
		var st unix.Stat_t
		if err := unix.Fstatat(d.fd, e.Backing, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if we.Err == nil {
				we.Err = &os.PathError{Op: "lstat", Path: strconv.Quote(we.BackingPath), Err: err}
			}
		} else {
			we.Info = newWalkInfo(name, &st)
		}
		var sub *Dir
		if we.Err == nil && we.Info.IsDir() {
			if sub, err = d.openBacking(e.Backing); err != nil {
				we.Err = err
			}
			we.Dir = sub
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
			err = v.walkDir(sub, we.Path, we.BackingPath, depth+1, fn)
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

// Lookup finds a plaintext path ("a/b/c", relative to the vault root)
// the way the mount would, one openat per component relative to the
// previous directory's descriptor (never following a symlink), so a path
// of any depth works and nothing outside the vault can be reached. It
// returns the open parent directory (the caller closes it) and the
// entry's backing name in it, after checking that the entry exists. The
// root itself is returned as (root, ".").
// A missing component gives an error wrapping fs.ErrNotExist.
func (v *Vault) Lookup(plainPath string) (parent *Dir, backing string, err error) {
	var parts []string
	for _, p := range strings.Split(plainPath, "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	d, err := v.OpenRoot()
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return d, ".", nil
	}
	last := len(parts) - 1
	for i, p := range parts {
		where := "/" + strings.Join(parts[:i+1], "/")
		b, err := d.BackingName(p)
		if err == nil && i == last {
			var st unix.Stat_t
			if err = unix.Fstatat(d.fd, b, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
				return d, b, nil
			}
		}
		var sub *Dir
		if err == nil {
			if sub, err = d.openBacking(b); err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the backing path says nothing useful here
				}
			}
		}
		d.Close()
		if err != nil {
			return nil, "", fmt.Errorf("%q: %w", where, err)
		}
		d = sub
	}
	return d, ".", nil // not reached: the last part returns above
}

// ResolvePath is Lookup giving the entry's full backing path, for tests
// and messages: a path deeper than PATH_MAX cannot be opened by its
// string, so tools reach entries through Lookup instead.
func (v *Vault) ResolvePath(plainPath string) (backingPath string, err error) {
	d, b, err := v.Lookup(plainPath)
	if err != nil {
		return "", err
	}
	defer d.Close()
	if b == "." {
		return v.dir, nil
	}
	return filepath.Join(d.path(), b), nil
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
func (s *walkInfo) ModTime() time.Time { return statMtime(&s.st) }
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
