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

// dirHandle is an open directory stream: a snapshot of the decrypted
// listing taken on the first read (and again on rewinddir). It also
// answers READDIRPLUS's per-entry lookups from the snapshot's backing
// names, so listing with attributes costs one statx per entry and no
// name encryption.
//
// The snapshot is vault's listing itself, not a copy: stream position
// 0 is ".", 1 is "..", and p >= 2 is list[p-2]. A directory of 100,000
// files lists about 10 MB, held while it is open.
type dirHandle struct {
	n        *node
	list     []vault.DirEntry // decodable entries only
	self, up uint64           // inode numbers of . and ..
	pos      int
	loaded   bool
}

// dotEntries is how many stream positions come before list: . and ..
const dotEntries = 2

// entry is the stream entry at position p < dotEntries+len(h.list).
func (h *dirHandle) entry(p int) fuse.DirEntry {
	switch p {
	case 0:
		return fuse.DirEntry{Name: ".", Mode: unix.S_IFDIR, Ino: h.self}
	case 1:
		return fuse.DirEntry{Name: "..", Mode: unix.S_IFDIR, Ino: h.up}
	}
	e := &h.list[p-dotEntries]
	return fuse.DirEntry{Name: e.Name, Mode: e.Type, Ino: h.n.r.ino(fileKey{dev: h.n.key.dev, ino: e.Ino})}
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
// listing needs the fd anyway.
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

func (h *dirHandle) load() syscall.Errno {
	n := h.n
	d, errno := n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer n.releaseDir()
	list, err := d.List()
	if err != nil {
		return n.r.errno(n, "readdir", err)
	}
	h.self = n.r.ino(n.key)
	h.up = h.self
	if _, p := n.Parent(); p != nil {
		h.up = p.StableAttr().Ino
	}
	// Drop the undecodable entries in place.
	ok := list[:0]
	for _, e := range list {
		if e.Err != nil {
			n.r.logOnce("name "+e.Backing, "%s: skipping entry with undecodable backing name %q: %v", n.r.path(n), e.Backing, e.Err)
			continue
		}
		ok = append(ok, e)
	}
	clear(list[len(ok):])
	h.list = ok
	h.pos = 0
	h.loaded = true
	return 0
}

// Readdirent returns the next entry; go-fuse serialises calls per
// handle.
func (h *dirHandle) Readdirent(ctx context.Context) (de *fuse.DirEntry, errno syscall.Errno) {
	defer h.n.r.guard("readdir", &errno)
	if !h.loaded {
		if errno := h.load(); errno != 0 {
			return nil, errno
		}
	}
	if h.pos >= dotEntries+len(h.list) {
		return nil, 0
	}
	e := h.entry(h.pos)
	h.pos++
	e.Off = uint64(h.pos)
	return &e, 0
}

// Seekdir repositions the stream; offset 0 (rewinddir) re-reads the
// directory so new entries appear, as on a local filesystem.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) (errno syscall.Errno) {
	defer h.n.r.guard("seekdir", &errno)
	if off == 0 {
		h.loaded = false
		h.pos = 0
		return 0
	}
	if !h.loaded {
		if errno := h.load(); errno != 0 {
			return errno
		}
	}
	if off > uint64(dotEntries+len(h.list)) {
		return syscall.EINVAL
	}
	h.pos = int(off)
	return 0
}

// Lookup serves READDIRPLUS for the entry just returned, using its
// backing name from the snapshot; other names take the normal path.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	n := h.n
	i := h.pos - 1 - dotEntries
	if i < 0 || i >= len(h.list) || h.list[i].Name != name {
		return n.Lookup(ctx, name, out)
	}
	backing := h.list[i].Backing
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

// Releasedir drops the snapshot and the directory fd OpendirHandle
// holds.
func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	h.list = nil
	h.n.releaseDir()
}
