package fs

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// openFile is the plaintext view of one open backing inode, shared by
// every handle on it (through any hard link) so that one lock in
// vault.Content serialises their read-modify-write of chunks.
type openFile struct {
	key fileKey
	// f is given to vault as is: Content finds holes (SEEK_DATA/HOLE)
	// through an *os.File's fd.
	f  *os.File
	fd int // f's fd, kept to avoid os.File.Fd's side effects
	c  *vault.Content
	// rw and refs are guarded by root.filesMu.
	rw   bool
	refs int
	// replay runs replayLeftover once the file is open read-write.
	replay sync.Once
}

// upgrade makes a read-only openFile read-write: dup3 atomically points
// its fd number at the new read-write description of the same inode, so
// the shared content (and its lock) stays while concurrent reads go on.
// Needed when a file first opened read-only (its mode denied us writing)
// is opened for writing later.
func (of *openFile) upgrade(fd int) error {
	err := unix.Dup3(fd, of.fd, unix.O_CLOEXEC)
	unix.Close(fd)
	if err == nil {
		of.rw = true
	}
	return err
}

// lookupOpen returns the open content of a backing inode, with a
// reference the caller must drop with releaseContent, or nil.
func (r *root) lookupOpen(k fileKey) *openFile {
	r.filesMu.Lock()
	defer r.filesMu.Unlock()
	of := r.files[k]
	if of != nil {
		of.refs++
	}
	return of
}

// releaseContent drops a reference; the last one closes the backing fd.
func (r *root) releaseContent(of *openFile) {
	r.filesMu.Lock()
	defer r.filesMu.Unlock()
	of.refs--
	if of.refs > 0 {
		return
	}
	if r.files[of.key] == of {
		delete(r.files, of.key)
	}
	of.c.Close()
	of.f.Close()
}

// register adds a freshly opened backing fd for key, or, when another
// request opened the same inode meanwhile, keeps the existing content
// (upgrading it to read-write if fd is and it is not). name is the
// plaintext path vault names in its errors; size is the backing size the
// opener's statx found (new content starts from it instead of an
// fstat).
func (r *root) register(key fileKey, fd int, rw bool, name string, size int64) (*openFile, error) {
	r.filesMu.Lock()
	defer r.filesMu.Unlock()
	of := r.files[key]
	switch {
	case of == nil:
		f := os.NewFile(uintptr(fd), name)
		c := r.v.OpenContent(f, name)
		c.KnowBackingSize(size)
		of = &openFile{key: key, f: f, fd: fd, c: c, rw: rw}
		r.files[key] = of
	case rw && !of.rw:
		if err := of.upgrade(fd); err != nil {
			return nil, err
		}
	default:
		unix.Close(fd)
	}
	of.refs++
	return of, nil
}

// acquireContent returns n's shared content, opening the backing file
// if no handle has it open yet. write asks for a read-write fd. Backing
// files are opened read-write whenever the mount is (a writer needs
// reads for read-modify-write, and a later writer can share the fd);
// read-only only on a read-only mount or when the mode forbids writing.
func (r *root) acquireContent(n *node, write bool) (*openFile, syscall.Errno) {
	if of := r.lookupOpen(n.key()); of != nil {
		r.filesMu.Lock()
		ok, rw := !write || of.rw, of.rw
		r.filesMu.Unlock()
		if ok {
			if rw {
				of.replay.Do(func() { r.replayLeftover(of) })
			}
			return of, 0
		}
		r.releaseContent(of)
	}
	p, d, backing, errno := n.at()
	if errno != 0 {
		return nil, staleIfGone(errno)
	}
	defer p.releaseDir()
	var st unix.Statx_t
	fd, rw, err := r.openBacking(d.Fd(), backing, write, &st)
	if err != nil {
		return nil, staleIfGone(r.errno(n, "open", err))
	}
	if keyOf(&st) != n.key() {
		// A rename raced with us and the name now holds another file.
		unix.Close(fd)
		return nil, syscall.ESTALE
	}
	of, err := r.register(n.key(), fd, rw, r.path(n), int64(st.Size))
	if err != nil {
		return nil, r.errno(n, "open", err)
	}
	r.filesMu.Lock()
	rw = of.rw
	r.filesMu.Unlock()
	if rw {
		of.replay.Do(func() { r.replayLeftover(of) })
	}
	return of, 0
}

// staleIfGone turns ENOENT for a node the kernel still holds into
// ESTALE. The file was removed or replaced (an editor's or a
// config writer's rename over it) after the kernel looked its path up;
// ESTALE makes the kernel look the path up again, so open(2) finds the
// new file as it would on a local filesystem instead of failing with
// ENOENT for a name that always existed.
func staleIfGone(errno syscall.Errno) syscall.Errno {
	if errno == syscall.ENOENT {
		return syscall.ESTALE
	}
	return errno
}

// openBacking opens a regular backing file, read-write if possible,
// through vault.OpenBackingFileStatx (O_NONBLOCK and a type check, so a FIFO
// or device planted in BACKING fails the open at once instead of
// blocking a mount thread), filling st.
func (r *root) openBacking(dirfd int, name string, write bool, st *unix.Statx_t) (fd int, rw bool, err error) {
	if r.readOnly {
		fd, err = openBackingAt(dirfd, name, unix.O_RDONLY, st)
		return fd, false, err
	}
	fd, err = openBackingAt(dirfd, name, unix.O_RDWR, st)
	if err == nil {
		return fd, true, nil
	}
	if err != unix.EACCES && err != unix.EROFS {
		return -1, false, err
	}
	if !write {
		fd, err = openBackingAt(dirfd, name, unix.O_RDONLY, st)
		return fd, false, err
	}
	if err == unix.EACCES {
		return r.openWriteOnly(dirfd, name, st)
	}
	return -1, false, err
}

// openBackingAt opens a backing file for content; see
// vault.OpenBackingFileStatx.
func openBackingAt(dirfd int, name string, flags int, st *unix.Statx_t) (int, error) {
	return vault.OpenBackingFileStatx(dirfd, name, flags, 0, st)
}

// openWriteOnly handles a file we may write but not read (mode 0200):
// content writes need reads, so, as the owner, we add read permission
// just long enough to open it.
func (r *root) openWriteOnly(dirfd int, name string, st *unix.Statx_t) (int, bool, error) {
	if err := statAt(dirfd, name, st); err != nil {
		return -1, false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return -1, false, vault.ErrNotRegular
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o200 == 0 || st.Mode&0o400 != 0 {
		return -1, false, unix.EACCES
	}
	mode := uint32(st.Mode) & 0o7777
	if err := chmodAt(dirfd, name, mode|0o400); err != nil {
		return -1, false, err
	}
	fd, err := openBackingAt(dirfd, name, unix.O_RDWR, st)
	if err2 := chmodAt(dirfd, name, mode); err2 != nil && err == nil {
		unix.Close(fd)
		return -1, false, err2
	}
	return fd, err == nil, err
}

// withFd runs fn on an open file's fd (fstat, fsync, fchmod, xattrs of
// an unlinked file); the caller's reference keeps it open.
func withFd(of *openFile, fn func(fd int) error) error { return fn(of.fd) }
