package fs

import (
	"context"
	"errors"
	"io"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// handle is one open file description on the mount. It holds a
// reference to the inode's shared content; all content access goes
// through that, so handles on one inode never tear each other's chunks.
type handle struct {
	n  *node
	of *openFile
	// appends is set for O_APPEND on shared storage, where the
	// kernel's idea of the end of file may be stale: writes go to the
	// backing file's end as it is under the lock.
	appends bool
}

var (
	_ gofs.FileReader    = (*handle)(nil)
	_ gofs.FileWriter    = (*handle)(nil)
	_ gofs.FileFlusher   = (*handle)(nil)
	_ gofs.FileFsyncer   = (*handle)(nil)
	_ gofs.FileReleaser  = (*handle)(nil)
	_ gofs.FileLseeker   = (*handle)(nil)
	_ gofs.FileAllocater = (*handle)(nil)
)

// openFlags are returned for every open: the kernel may keep its page
// cache across opens (we are the only writer of the backing files), and
// close(2) needs no FLUSH round trip because content writes are never
// buffered here.
const openFlags = fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH

// sharedOpenFlags replace openFlags on shared storage: another machine
// may change the file while it is open here, so the kernel keeps no
// page cache of it (every read comes to the vault, which re-checks the
// backing file under its locks).
const sharedOpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH

// openFlags is what an open with flags returns on this mount. A
// write-only handle also gets FOPEN_DIRECT_IO: its writes come as they
// were made instead of through the kernel's page cache, which ends a
// request at a page it did not fill whole and has never read (so tar's
// 10 KiB writes, which start inside a page, arrived as two requests,
// each rewriting the file's last chunk), and which asks for
// security.capability before a handle's first write. Nothing can read
// or map through such a handle, and the kernel drops the cached pages a
// direct write covers, so readers of the file through other handles see
// the new bytes as before. The written bytes are not left in the page
// cache: the first read of them comes to the vault.
func (r *root) openFlags(flags uint32) uint32 {
	if r.v.SharedStorage() {
		return sharedOpenFlags
	}
	if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		return openFlags | fuse.FOPEN_DIRECT_IO
	}
	return openFlags
}

func (r *root) newHandle(n *node, of *openFile, flags uint32) *handle {
	r.handles.Add(1)
	return &handle{n: n, of: of, appends: r.v.SharedStorage() && flags&syscall.O_APPEND != 0}
}

// Read decrypts the chunks covering [off, off+len(dest)).
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (res fuse.ReadResult, errno syscall.Errno) {
	defer h.n.r().guard("read", &errno)
	n, err := h.of.c.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, h.n.r().errno(h.n, "read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write encrypts data at off. With O_APPEND the kernel has already set
// off to the end of file under its inode lock, from a size we keep
// exact, so appends need nothing special here.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (written uint32, errno syscall.Errno) {
	defer h.n.r().guard("write", &errno)
	if h.n.r().readOnly {
		return 0, syscall.EROFS
	}
	if h.appends {
		if _, err := h.of.c.Append(data); err != nil {
			return 0, h.n.r().errno(h.n, "write", err)
		}
		return uint32(len(data)), 0
	}
	n, err := h.of.c.WriteAt(data, off)
	if err != nil && n == 0 {
		return 0, h.n.r().errno(h.n, "write", err)
	}
	// A failed write that replaced whole chunks at its start is a short
	// write: the caller learns exactly what is in the file and gets the
	// error when it writes the rest.
	return uint32(n), 0
}

// Flush has nothing to do (writes are not buffered); it is only called
// if the kernel ignores FOPEN_NOFLUSH.
func (h *handle) Flush(ctx context.Context) (errno syscall.Errno) {
	defer h.n.r().guard("flush", &errno)
	return 0
}

// Fsync syncs the backing file (fdatasync for fdatasync(2)).
func (h *handle) Fsync(ctx context.Context, flags uint32) (errno syscall.Errno) {
	defer h.n.r().guard("fsync", &errno)
	err := withFd(h.of, func(fd int) error {
		if flags&1 != 0 {
			return unix.Fdatasync(fd)
		}
		return unix.Fsync(fd)
	})
	return h.n.r().errno(h.n, "fsync", err)
}

// Release drops the handle's content reference; the last one closes
// the backing fd.
func (h *handle) Release(ctx context.Context) (errno syscall.Errno) {
	defer h.n.r().guard("release", &errno)
	h.n.r().releaseContent(h.of)
	h.n.r().handles.Add(-1)
	return 0
}

// Lseek answers SEEK_DATA and SEEK_HOLE in plaintext offsets (the
// kernel handles the other whences itself).
func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (res uint64, errno syscall.Errno) {
	defer h.n.r().guard("lseek", &errno)
	var pos int64
	var err error
	switch whence {
	case unix.SEEK_DATA:
		pos, err = h.of.c.SeekData(int64(off))
	case unix.SEEK_HOLE:
		pos, err = h.of.c.SeekHole(int64(off))
	default:
		return 0, syscall.EINVAL
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, syscall.ENXIO
		}
		return 0, h.n.r().errno(h.n, "lseek", err)
	}
	return uint64(pos), 0
}

// Allocate supports plain fallocate (mode 0) and FALLOC_FL_KEEP_SIZE:
// both reserve the backing space the range needs (see
// vault.Content.Allocate), or fail with EOPNOTSUPP where the backing
// filesystem cannot, so posix_fallocate falls back to writing zeros.
// Punching holes or zeroing would need their own content operations, so
// they are refused the way a local filesystem without them refuses.
func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) (errno syscall.Errno) {
	defer h.n.r().guard("fallocate", &errno)
	if h.n.r().readOnly {
		return syscall.EROFS
	}
	if mode != 0 && mode != unix.FALLOC_FL_KEEP_SIZE {
		return syscall.EOPNOTSUPP
	}
	if size == 0 || int64(off) < 0 || int64(off+size) < int64(off) {
		return syscall.EINVAL
	}
	return h.n.r().errno(h.n, "fallocate", h.of.c.Allocate(int64(off), int64(size), mode == unix.FALLOC_FL_KEEP_SIZE))
}

var (
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeCopyFileRanger = (*node)(nil)
)

// Open returns a handle on the inode's shared content. O_TRUNC is
// handled here because the mount negotiates atomic O_TRUNC (one request
// instead of OPEN plus SETATTR).
func (n *node) Open(ctx context.Context, flags uint32) (fh gofs.FileHandle, fuseFlags uint32, errno syscall.Errno) {
	defer n.r().guard("open", &errno)
	acc := flags & syscall.O_ACCMODE
	write := acc != syscall.O_RDONLY
	if write && n.r().readOnly {
		return nil, 0, syscall.EROFS
	}
	of, errno := n.r().acquireContent(n, write)
	if errno != 0 {
		return nil, 0, n.r().stale.answer(ctx, errno)
	}
	n.r().stale.opened(ctx)
	if write && flags&syscall.O_TRUNC != 0 {
		if err := of.c.Truncate(0); err != nil {
			n.r().releaseContent(of)
			return nil, 0, n.r().errno(n, "truncate", err)
		}
	} else if errno := n.r().checkOpen(n, of); errno != 0 {
		n.r().releaseContent(of)
		return nil, 0, errno
	} else if acc != syscall.O_WRONLY {
		of.c.WillRead()
	}
	return n.r().newHandle(n, of, flags), n.r().openFlags(flags), 0
}

// checkOpen refuses to open a damaged file whose backing size fits no
// layout (a torn tail, a copy cut short): it would otherwise read as a
// short or empty file with success, since the kernel never reads past
// the size stat shows. It costs nothing per read: the size is cached
// in the content after the first check. Opens with O_TRUNC pass, so a
// damaged file can still be overwritten.
func (r *root) checkOpen(n *node, of *openFile) syscall.Errno {
	_, err := of.c.Size()
	if err == nil {
		return 0
	}
	if !errors.Is(err, vault.ErrCorrupt) {
		return r.errno(n, "open", err)
	}
	var st unix.Statx_t
	if serr := withFd(of, func(fd int) error { return statFd(fd, &st) }); serr != nil {
		return r.errno(n, "open", err)
	}
	r.reportBadSize(r.path(n), of.key, int64(st.Size))
	return syscall.EIO
}

// CopyFileRange answers ENOSYS so the kernel stops asking and copies
// through read and write itself: a backing-level copy would copy
// ciphertext bound to another file's key.
func (n *node) CopyFileRange(ctx context.Context, fhIn gofs.FileHandle, offIn uint64, out *gofs.Inode, fhOut gofs.FileHandle, offOut uint64, length uint64, flags uint64) (written uint32, errno syscall.Errno) {
	defer n.r().guard("copy_file_range", &errno)
	return 0, syscall.ENOSYS
}
