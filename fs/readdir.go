package fs

import (
	"context"
	"syscall"
	"time"

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
// costs one statx per entry and no name encryption, and none for
// entries the kernel holds with fresh attributes (see quiet).
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
	// idx is cur's index among the stream's entries ("." and ".."
	// not counted) and next the next one's, while counted: a seek
	// to a position other than the start makes them unknown.
	idx, next int
	counted   bool
	// quietN is how many entries from the start a recent listing has
	// given the kernel with attributes (see quiet).
	quietN int
	// start is when the stream began at the directory's start; full
	// is how many entries from there it has answered, all with
	// attributes, while allFull.
	start   time.Time
	full    int
	allFull bool
	// quietAll is set when a recent listing gave the kernel every
	// entry with attributes (the record is complete), so any entry of
	// this stream may be left out, also after a seek.
	quietAll bool
	// de is the entry Readdirent returns, which go-fuse copies: one
	// per handle instead of an allocation per entry.
	de fuse.DirEntry
	// nameBuf holds the NUL-terminated backing name READDIRPLUS stats.
	nameBuf []byte
}

// plusRecord is a directory's last listing with attributes from its
// start: when it began and how many entries in a row it answered with
// attributes so far. owner is the stream that extends it.
type plusRecord struct {
	at    time.Time
	n     int
	owner *dirHandle
	// complete: the n entries are the whole directory (the stream
	// counting them reached its end).
	complete bool
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
	defer n.r().guard("opendir", &errno)
	if _, errno := n.acquireDir(); errno != 0 {
		return nil, 0, errno
	}
	if n.r().timeout > 0 {
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
		return n.r().errno(n, "readdir", err)
	}
	h.self = n.r().ino(n.key())
	h.up = h.self
	if _, p := n.Parent(); p != nil {
		h.up = p.StableAttr().Ino
	}
	h.s = st
	h.idx, h.next, h.counted = 0, 0, true
	h.beginPlus()
	return 0
}

// beginPlus starts a stream at the directory's start: it may leave out
// the attributes of the entries a listing that began less than half
// the cache timeout ago gave the kernel, and it extends that record
// (or, when there is none so recent, starts a new one from now).
func (h *dirHandle) beginPlus() {
	h.quietN, h.full, h.allFull, h.quietAll = 0, 0, true, false
	window := h.n.r().timeout / 2
	if window <= 0 {
		return
	}
	h.start = time.Now()
	ds := h.n.dir()
	ds.mu.Lock()
	if p := &ds.plus; p.at.IsZero() || h.start.Sub(p.at) >= window {
		*p = plusRecord{at: h.start}
	} else {
		h.quietN, h.quietAll = p.n, p.complete
	}
	ds.plus.owner = h
	ds.mu.Unlock()
}

// answered notes that the kernel has cur with its attributes. That
// extends the directory's record if cur follows the entries it
// counts; and once this stream has answered, all with attributes, as
// many entries from the start as the record counts, the record becomes
// this stream's (younger) one. So a listing that finds the nodes gone
// (the kernel forgot them) renews the record instead of leaving it to
// expire from an older listing's start.
func (h *dirHandle) answered() {
	if !h.counted {
		return
	}
	ds := h.n.dir()
	ds.mu.Lock()
	if p := &ds.plus; p.owner == h {
		if h.allFull && h.full == h.idx {
			h.full++
			if h.full >= p.n {
				p.at, p.n, p.complete = h.start, h.full, false
			}
		} else if p.n == h.idx {
			p.n++
		}
	}
	ds.mu.Unlock()
}

// quiet reports whether READDIRPLUS may give cur without attributes
// (node ID 0: the kernel then lists the name and leaves its dentry and
// inode as they are), sparing a statx and the node bookkeeping. That
// is so when a listing that began less than half the cache timeout ago
// gave the kernel this entry with attributes (it is among the first
// quietN of the stream, or that listing was of the whole directory,
// which also covers a stream the kernel continues at a position
// other than the start when pages of its cached listing went
// missing) and the node it made is still in the tree
// under this name with the same inode and type: the kernel then holds
// that entry with attributes valid for at least another half timeout,
// or newer ones (a lookup, create or setattr since). Whatever the
// kernel holds, it drops them when their own timeout ends, so leaving
// them out never shows stale attributes for longer than a listing-free
// mount would; it only spares refreshing them early. A second listing
// soon after the first is common: "rm -rf" opens each directory twice
// and reads it from the start both times, and a listing the kernel
// cached (FOPEN_CACHE_DIR) is listed again when its pages were
// reclaimed.
func (h *dirHandle) quiet() bool {
	if !h.quietAll && (!h.counted || h.idx >= h.quietN) {
		return false
	}
	n := h.n
	ch := n.GetChild(h.cur.Name)
	if ch == nil {
		return false
	}
	a := ch.StableAttr()
	return a.Ino == n.r().ino(fileKey{dev: n.key().dev, ino: h.cur.Ino}) &&
		(h.cur.Type == 0 || h.cur.Type == a.Mode)
}

// reachedEnd marks the directory's record complete when this stream,
// counting from the start, has reached the end with every entry in it.
func (h *dirHandle) reachedEnd() {
	if !h.counted || h.n.r().timeout <= 0 {
		return
	}
	ds := h.n.dir()
	ds.mu.Lock()
	if p := &ds.plus; p.owner == h && p.n == h.next {
		p.complete = true
	}
	ds.mu.Unlock()
}

// endPlus lets go of the directory's record when this stream owns it.
func (h *dirHandle) endPlus() {
	ds := h.n.dir()
	ds.mu.Lock()
	if ds.plus.owner == h {
		ds.plus.owner = nil
	}
	ds.mu.Unlock()
}

// drop closes the stream; the next read starts it again.
func (h *dirHandle) drop() {
	if h.s != nil {
		h.s.Close()
		h.s = nil
		h.endPlus()
	}
	h.cur, h.curOK = vault.DirEntry{}, false
	h.counted = false
}

// Readdirent returns the next entry; go-fuse serialises calls per
// handle.
func (h *dirHandle) Readdirent(ctx context.Context) (de *fuse.DirEntry, errno syscall.Errno) {
	defer h.n.r().guard("readdir", &errno)
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
			return nil, n.r().errno(n, "readdir", err)
		}
		if !ok {
			h.reachedEnd()
			return nil, 0
		}
		h.de = fuse.DirEntry{Name: ve.Name, Mode: ve.Type, Off: off}
		e := &h.de
		switch {
		case ve.Err != nil:
			b := h.s.Backing()
			n.r().logOnce("name "+b, "%s: skipping entry with undecodable backing name %q: %v", n.r().path(n), b, ve.Err)
			continue
		case ve.Name == ".":
			e.Mode, e.Ino = unix.S_IFDIR, h.self
		case ve.Name == "..":
			e.Mode, e.Ino = unix.S_IFDIR, h.up
		default:
			e.Ino = n.r().ino(fileKey{dev: n.key().dev, ino: ve.Ino})
			h.cur, h.curOK = ve, true
			h.idx = h.next
			h.next++
		}
		return e, 0
	}
}

// Seekdir repositions the stream; offset 0 (rewinddir) re-reads the
// directory so new entries appear, as on a local filesystem.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) (errno syscall.Errno) {
	defer h.n.r().guard("seekdir", &errno)
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
	h.counted = false
	if err := h.s.Seek(off); err != nil {
		return h.n.r().errno(h.n, "seekdir", err)
	}
	return 0
}

// Lookup serves READDIRPLUS for the entry just returned, using its
// backing name from the stream; other names take the normal path. An
// entry the kernel already holds with fresh attributes (see quiet) is
// answered with an error, which go-fuse turns into node ID 0.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	n := h.n
	if !h.curOK || h.cur.Name != name {
		return n.Lookup(ctx, name, out)
	}
	if h.quiet() {
		h.allFull = false
		if c := n.r().opts.quietEntries; c != nil {
			c.Add(1)
		}
		return nil, syscall.EEXIST
	}
	backing := h.s.Backing()
	defer n.r().guard("lookup", &errno)
	d, errno := n.acquireDir()
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	var st unix.Statx_t
	h.nameBuf = append(append(h.nameBuf[:0], backing...), 0)
	if err := statAtBuf(d.Fd(), h.nameBuf, &st); err != nil {
		return nil, n.r().errno(n, "lookup", err)
	}
	ch = n.newChild(ctx, d, name, backing, &st, out)
	h.answered()
	return ch, 0
}

// Fsyncdir syncs the backing directory.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) (errno syscall.Errno) {
	defer h.n.r().guard("fsyncdir", &errno)
	d, errno := h.n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer h.n.releaseDir()
	return h.n.r().errno(h.n, "fsyncdir", unix.Fsync(d.Fd()))
}

// Releasedir closes the stream and drops the directory fd
// OpendirHandle holds.
func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	h.drop()
	h.n.releaseDir()
}
