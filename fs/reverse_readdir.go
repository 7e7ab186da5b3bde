package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fernetfs/fernetfs/vault"
)

var (
	_ gofs.FileReaddirenter = (*rdirHandle)(nil)
	_ gofs.FileSeekdirer    = (*rdirHandle)(nil)
	_ gofs.FileLookuper     = (*rdirHandle)(nil)
)

// OpendirHandle lists the view of a directory: its diriv, the root's
// header, and every visible plaintext entry under its encrypted name (a
// long name with its sidecar). The handle answers the lookups of
// READDIRPLUS itself, from the plaintext names it listed, so no entry's
// name is decrypted back.
func (n *rnode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if n.kind != kindDir {
		return nil, 0, syscall.ENOTDIR
	}
	rr := n.rr
	entries, errno := n.plainNames()
	if errno != 0 {
		return nil, 0, errno
	}
	h := &rdirHandle{n: n, list: make([]fuse.DirEntry, 0, len(entries)+2), plain: make(map[string]string, len(entries))}
	long := map[string]string{} // this listing's long names, for Lookup
	h.list = append(h.list, fuse.DirEntry{Name: vault.DirIVName, Mode: syscall.S_IFREG, Ino: rr.rv.Inode(byte(kindDirIV), n.rel)})
	if n.rel == "" {
		h.list = append(h.list, fuse.DirEntry{Name: vault.HeaderName, Mode: syscall.S_IFREG, Ino: rr.rv.Inode(byte(kindHeader), "")})
	}
	for _, e := range entries {
		k, ok := rr.visible(n.rel, e.Name, e.Type)
		if !ok {
			continue
		}
		rel := joinRel(n.rel, e.Name)
		backing, longTok, err := rr.rv.EncryptName(n.iv, e.Name)
		if err != nil {
			rr.logOnce(rel, "reverse view: leaving out "+quoteRel(rel)+": "+err.Error())
			continue
		}
		h.list = append(h.list, fuse.DirEntry{Name: backing, Mode: k.mode(), Ino: rr.rv.Inode(byte(k), rel)})
		h.plain[backing] = e.Name
		if longTok != "" {
			long[backing] = e.Name
			h.list = append(h.list, fuse.DirEntry{Name: vault.LongNameSidecar(backing), Mode: syscall.S_IFREG, Ino: rr.rv.Inode(byte(kindSidecar), rel)})
		}
	}
	n.longMu.Lock()
	n.long = long
	n.longMu.Unlock()
	return h, 0, 0
}

// rdirHandle is an open directory of the view: the listing made at
// opendir, as rewinddir and seekdir expect of one open directory.
type rdirHandle struct {
	n    *rnode
	list []fuse.DirEntry
	next int
	// plain maps the listing's view names of plaintext entries to
	// their plaintext names.
	plain map[string]string
}

func (h *rdirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.next >= len(h.list) {
		return nil, 0
	}
	e := h.list[h.next]
	h.next++
	e.Off = uint64(h.next)
	return &e, 0
}

func (h *rdirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(h.list)) {
		return syscall.EINVAL
	}
	h.next = int(off)
	return 0
}

// Lookup is READDIRPLUS's lookup of the entry just listed: a plaintext
// entry by its plaintext name, else (diriv, header, sidecar) as a
// lookup by name.
func (h *rdirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if plain, ok := h.plain[name]; ok {
		return h.n.lookupPlain(ctx, plain, out)
	}
	return h.n.Lookup(ctx, name, out)
}
