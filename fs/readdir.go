package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

var _ gofs.NodeOpendirHandler = (*node)(nil)

// dirHandle is an open directory stream over a vault.Stream, which
// reads the backing directory as the kernel asks for entries and
// decrypts each name as it reaches it, so a stream over 100,000 entries
// holds one 32 KiB buffer, not the listing. Stream offsets are the
// backing directory's own, so a seek (or a kernel that continues a
// cached listing on a new handle) lands where the backing filesystem
// would. It also answers READDIRPLUS's per-entry lookups from the
// backing name of the entry just returned, so listing with attributes
// costs one statx per entry and no name encryption.
//
// Entries whose backing name does not decode are skipped (and logged
// once).
type dirHandle struct {
	n        *node
	s        *vault.Stream
	self, up uint64 // inode numbers of . and ..
	// cur is the entry returned last, if curOK.
	cur   vault.DirEntry
	curOK bool
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileLookuper     = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileFsyncdirer   = (*dirHandle)(nil)
	_ gofs.FileReleasedirer = (*dirHandle)(nil)
)

// OpendirHandle opens a directory stream; the listing is read lazily.
//
// The stream holds the backing directory open until it is released, so
// fstat of an open directory that was then removed or renamed over
// still answers, as on a local filesystem (posixtest RenameOpenDir);
// listing needs the fd anyway, and so does decrypting a long name,
// which reads its sidecar.
//
// Unless the mount caches nothing (shared storage), the reply lets the
// kernel keep the listing (FOPEN_CACHE_DIR, with KEEP_CACHE so the next
// open does not drop it) and serve later reads of the directory from
// its page cache, with no READDIR: a second "ls -l" of a large
// directory then costs no request at all. The kernel drops that cache
// when the directory changes through the mount (create, unlink,
// rename, mkdir, rmdir, link, symlink) and, when a stream starts at
// offset 0, if the directory's mtime changed once its attributes
// expired (root.timeout): changes made behind the mount's back show
// then, as new lookups do.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fh gofs.FileHandle, fuseFlags uint32, errno syscall.Errno) {
	defer n.r.guard("opendir", &errno)
	if _, errno := n.acquireDir(); errno != 0 {
		return nil, 0, errno
	}
	if n.r.timeout > 0 {
		fuseFlags = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	}
	return &dirHandle{n: n}, fuseFlags, 0
}

// load starts the stream at the directory's beginning.
func (h *dirHandle) load() syscall.Errno {
	n := h.n
	d, errno := n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer n.releaseDir()
	st, err := d.OpenStream()
	if err != nil {
		return n.r.errno(n, "readdir", err)
	}
	h.self = n.r.ino(n.key())
	h.up = h.self
	if _, p := n.Parent(); p != nil {
		h.up = p.StableAttr().Ino
	}
	h.s = st
	return 0
}

// drop closes the stream; the next read starts it again.
func (h *dirHandle) drop() {
	if h.s != nil {
		h.s.Close()
		h.s = nil
	}
	h.cur, h.curOK = vault.DirEntry{}, false
}

// Readdirent returns the next entry; go-fuse serialises calls per
// handle.
func (h *dirHandle) Readdirent(ctx context.Context) (de *fuse.DirEntry, errno syscall.Errno) {
	defer h.n.r.guard("readdir", &errno)
	if h.s == nil {
		if errno := h.load(); errno != 0 {
			return nil, errno
		}
	}
	n := h.n
	h.curOK = false
	for {
		ve, off, ok, err := h.s.Next()
		if err != nil {
			return nil, n.r.errno(n, "readdir", err)
		}
		if !ok {
			return nil, 0
		}
		e := fuse.DirEntry{Name: ve.Name, Mode: ve.Type, Off: off}
		switch {
		case ve.Backing == ".":
			e.Mode, e.Ino = unix.S_IFDIR, h.self
		case ve.Backing == "..":
			e.Mode, e.Ino = unix.S_IFDIR, h.up
		case ve.Err != nil:
			n.r.logOnce("name "+ve.Backing, "%s: skipping entry with undecodable backing name %q: %v", n.r.path(n), ve.Backing, ve.Err)
			continue
		default:
			e.Ino = n.r.ino(fileKey{dev: n.key().dev, ino: ve.Ino})
			h.cur, h.curOK = ve, true
		}
		return &e, 0
	}
}

// Seekdir repositions the stream; offset 0 (rewinddir) re-reads the
// directory so new entries appear, as on a local filesystem.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) (errno syscall.Errno) {
	defer h.n.r.guard("seekdir", &errno)
	if off == 0 {
		h.drop()
		return 0
	}
	h.cur, h.curOK = vault.DirEntry{}, false
	if h.s == nil {
		if errno := h.load(); errno != 0 {
			return errno
		}
	}
	if err := h.s.Seek(off); err != nil {
		return h.n.r.errno(h.n, "seekdir", err)
	}
	return 0
}

// Lookup serves READDIRPLUS for the entry just returned, using its
// backing name from the stream; other names take the normal path.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	n := h.n
	if !h.curOK || h.cur.Name != name {
		return n.Lookup(ctx, name, out)
	}
	backing := h.cur.Backing
	defer n.r.guard("lookup", &errno)
	d, errno := n.acquireDir()
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	var st unix.Statx_t
	if err := statAt(d.Fd(), backing, &st); err != nil {
		return nil, n.r.errno(n, "lookup", err)
	}
	return n.newChild(ctx, d, name, backing, &st, out), 0
}

// Fsyncdir syncs the backing directory.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) (errno syscall.Errno) {
	defer h.n.r.guard("fsyncdir", &errno)
	d, errno := h.n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer h.n.releaseDir()
	return h.n.r.errno(h.n, "fsyncdir", unix.Fsync(d.Fd()))
}

// Releasedir closes the stream and drops the directory fd
// OpendirHandle holds.
func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	h.drop()
	h.n.releaseDir()
}
