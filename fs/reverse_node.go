package fs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// rkind is what a node of the reverse view is: a plaintext entry shown
// encrypted, or one of the files a forward vault keeps beside them.
type rkind byte

// The kinds double as the inode-number domain of Reverse.Inode, so an
// entry that changes type gets a new inode number.
const (
	kindDir     rkind = 'd'
	kindFile    rkind = 'f'
	kindSymlink rkind = 'l'
	kindFifo    rkind = 'p'
	kindDirIV   rkind = 'i' // fernetfs.diriv of directory rel
	kindSidecar rkind = 'n' // long-name sidecar of entry rel
	kindHeader  rkind = 'h' // fernetfs.json in the root
)

// rnode is every inode of the reverse view. rel is the plaintext path,
// relative to the folder, of the entry it stands for (for a diriv, its
// directory; for a sidecar, the entry whose name it holds). Paths are
// fixed: the view follows the plaintext folder, never the reverse.
type rnode struct {
	gofs.Inode
	rr   *reverseRoot
	kind rkind
	rel  string
	iv   []byte // directories: the derived directory IV
	// data is the content of a sidecar (its name token).
	data []byte
	// long maps the long names of a directory's entries to their
	// plaintext names, as far as listings and lookups have seen them,
	// so a lookup of each need not list the directory again.
	longMu sync.Mutex
	long   map[string]string
}

var (
	_ gofs.NodeLookuper       = (*rnode)(nil)
	_ gofs.NodeOpendirHandler = (*rnode)(nil)
	_ gofs.NodeGetattrer      = (*rnode)(nil)
	_ gofs.NodeOpener         = (*rnode)(nil)
	_ gofs.NodeReadlinker     = (*rnode)(nil)
	_ gofs.NodeStatfser       = (*rnode)(nil)
	_ gofs.FileReader         = (*rfileHandle)(nil)
	_ gofs.FileReleaser       = (*rfileHandle)(nil)
	_ gofs.FileReader         = (*rbytesHandle)(nil)
)

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// kindOf maps a plaintext file type (S_IFMT bits) to the view's kind; ok
// is false for sockets and device nodes, which the view leaves out.
func kindOf(ifmt uint32) (rkind, bool) {
	switch ifmt & syscall.S_IFMT {
	case syscall.S_IFREG:
		return kindFile, true
	case syscall.S_IFDIR:
		return kindDir, true
	case syscall.S_IFLNK:
		return kindSymlink, true
	case syscall.S_IFIFO:
		return kindFifo, true
	}
	return 0, false
}

func (k rkind) mode() uint32 {
	switch k {
	case kindDir:
		return syscall.S_IFDIR
	case kindSymlink:
		return syscall.S_IFLNK
	case kindFifo:
		return syscall.S_IFIFO
	}
	return syscall.S_IFREG
}

// errno maps a plaintext-side error: permission problems stay EACCES
// for that entry alone; anything unexpected is logged once.
func (rr *reverseRoot) errno(rel, op string, err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	}
	rr.log.Printf("%s: %s: %v", quoteRel(rel), op, err)
	return syscall.EIO
}

func quoteRel(rel string) string { return "/" + rel }

// visible reports whether the plaintext entry name in directory dir
// appears in the view, logging once why a socket or device does not.
func (rr *reverseRoot) visible(dir, name string, ifmt uint32) (rkind, bool) {
	rel := joinRel(dir, name)
	if dir == "" && strings.HasPrefix(name, vault.ReverseHeaderName) {
		return 0, false // the reverse header and its temporary files
	}
	k, ok := kindOf(ifmt)
	if !ok {
		rr.logOnce(rel, "reverse view: leaving out "+quoteRel(rel)+": a "+typeName(ifmt)+" has no place in a vault")
		return 0, false
	}
	if rr.excl.match(rel, k == kindDir) {
		return 0, false
	}
	return k, true
}

func typeName(ifmt uint32) string {
	switch ifmt & syscall.S_IFMT {
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "character device"
	case syscall.S_IFBLK:
		return "block device"
	}
	return "special file"
}

// ifmtOf is the S_IFMT bits of an lstat result.
func ifmtOf(fi fs.FileInfo) uint32 { return fi.Sys().(*syscall.Stat_t).Mode & syscall.S_IFMT }

// Lookup finds a view name: the directory's diriv, the root's header,
// a long name or its sidecar (found by listing the plaintext directory,
// as a hash cannot be reversed), or a short name, which decrypts.
func (n *rnode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.kind != kindDir {
		return nil, syscall.ENOTDIR
	}
	rr := n.rr
	switch {
	case name == vault.DirIVName:
		return n.newChild(ctx, &rnode{rr: rr, kind: kindDirIV, rel: n.rel}, out)
	case name == vault.HeaderName && n.rel == "":
		return n.newChild(ctx, &rnode{rr: rr, kind: kindHeader}, out)
	case strings.HasPrefix(name, vault.LongNamePrefix):
		base, sidecar := strings.CutSuffix(name, ".name")
		plain, tok, errno := n.findLong(base)
		if errno != 0 {
			return nil, errno
		}
		if sidecar {
			return n.newChild(ctx, &rnode{rr: rr, kind: kindSidecar, rel: joinRel(n.rel, plain), data: []byte(tok)}, out)
		}
		return n.lookupPlain(ctx, plain, out)
	}
	plain, err := rr.rv.DecryptName(n.iv, name)
	if err != nil {
		return nil, syscall.ENOENT
	}
	return n.lookupPlain(ctx, plain, out)
}

// findLong finds the plaintext entry whose long name is backing: from
// the names seen before, else by listing the plaintext directory. A name
// seen before may be gone; the lstat that follows finds that out.
func (n *rnode) findLong(backing string) (plain, token string, errno syscall.Errno) {
	n.longMu.Lock()
	plain, ok := n.long[backing]
	n.longMu.Unlock()
	if !ok {
		names, errno := n.plainNames()
		if errno != 0 {
			return "", "", errno
		}
		for _, e := range names {
			if !vault.HasLongName(e.Name) {
				continue // a short name: its token is its backing name
			}
			if b, _, err := n.rr.rv.EncryptName(n.iv, e.Name); err == nil {
				n.rememberLong(b, e.Name)
				if b == backing {
					plain, ok = e.Name, true
				}
			}
		}
		if !ok {
			return "", "", syscall.ENOENT
		}
	}
	_, tok, err := n.rr.rv.EncryptName(n.iv, plain)
	if err != nil {
		return "", "", syscall.ENOENT
	}
	return plain, tok, 0
}

// rememberLong notes that plain's backing name is the long name backing.
func (n *rnode) rememberLong(backing, plain string) {
	n.longMu.Lock()
	defer n.longMu.Unlock()
	if n.long == nil {
		n.long = map[string]string{}
	}
	n.long[backing] = plain
}

// plainNames lists the plaintext directory, with every entry's type.
func (n *rnode) plainNames() ([]vault.Dirent, syscall.Errno) {
	var entries []vault.Dirent
	op := "open directory"
	err := n.rr.dirs.at(n.rel, func(r *os.Root) error {
		d, err := r.Open(".")
		if err != nil {
			return err
		}
		defer d.Close()
		op = "read directory"
		fd := int(d.Fd())
		if entries, err = vault.ReadDirents(fd); err != nil {
			return err
		}
		for i := range entries {
			if entries[i].Type != 0 {
				continue
			}
			// The filesystem does not give types in listings.
			var st unix.Stat_t
			if err := unix.Fstatat(fd, entries[i].Name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
				entries[i].Type = st.Mode & unix.S_IFMT
			}
		}
		return nil
	})
	if err != nil {
		return nil, n.rr.errno(n.rel, op, err)
	}
	return entries, 0
}

func (n *rnode) lookupPlain(ctx context.Context, plain string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	rel := joinRel(n.rel, plain)
	fi, err := n.rr.dirs.lstat(rel)
	if err != nil {
		return nil, n.rr.errno(rel, "lstat", err)
	}
	k, ok := n.rr.visible(n.rel, plain, ifmtOf(fi))
	if !ok {
		return nil, syscall.ENOENT
	}
	if _, fits := vault.ReverseSymlinkLen(int(fi.Size())); k == kindSymlink && !fits {
		n.rr.logOnce(rel, "reverse view: "+quoteRel(rel)+": symlink target too long to encrypt (ENAMETOOLONG)")
		return nil, syscall.ENAMETOOLONG
	}
	c := &rnode{rr: n.rr, kind: k, rel: rel}
	if k == kindDir {
		c.iv = n.rr.rv.DirIV(rel)
	}
	return n.newChildStat(ctx, c, fi, out)
}

func (n *rnode) newChild(ctx context.Context, c *rnode, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.newChildStat(ctx, c, nil, out)
}

// newChildStat makes c a child of n, with its attributes from fi if
// the caller has them, else from a fresh lstat.
func (n *rnode) newChildStat(ctx context.Context, c *rnode, fi fs.FileInfo, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	var errno syscall.Errno
	if fi != nil {
		errno = c.fillAttr(nil, fi, &out.Attr)
	} else {
		errno = c.getattr(nil, &out.Attr)
	}
	if errno != 0 {
		return nil, errno
	}
	ino := n.NewInode(ctx, c, gofs.StableAttr{Mode: c.kind.mode(), Ino: out.Attr.Ino})
	return ino, 0
}

func (n *rnode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.getattr(f, &out.Attr)
}

// getattr fills a's attributes from one lstat of the plaintext entry
// (for the view's own files, of the directory or file they belong to):
// sizes follow from plaintext sizes, and no content is read.
func (n *rnode) getattr(f gofs.FileHandle, a *fuse.Attr) syscall.Errno {
	rr := n.rr
	statRel := n.rel
	switch n.kind {
	case kindHeader:
		statRel = vault.ReverseHeaderName
	case kindSidecar:
		statRel = path.Dir("/" + n.rel)[1:]
	}
	fi, err := rr.dirs.lstat(statRel)
	if err != nil {
		return rr.errno(statRel, "lstat", err)
	}
	return n.fillAttr(f, fi, a)
}

// fillAttr is getattr given the lstat of the entry that n stands for.
func (n *rnode) fillAttr(f gofs.FileHandle, fi fs.FileInfo, a *fuse.Attr) syscall.Errno {
	rr := n.rr
	st := fi.Sys().(*syscall.Stat_t)
	switch n.kind {
	case kindFile, kindDir, kindSymlink, kindFifo:
		if k, ok := kindOf(ifmtOf(fi)); !ok || k != n.kind {
			return syscall.ENOENT // replaced by another type since the lookup
		}
	}
	a.FromStat(st)
	a.Ino = rr.rv.Inode(byte(n.kind), n.rel)
	switch n.kind {
	case kindFile:
		// Hard links are separate files in the view: each path has its
		// own file ID, so its own bytes.
		a.Nlink = 1
		size := st.Size
		if h, ok := f.(*rfileHandle); ok {
			size = h.size
		}
		a.Size = uint64(rr.rv.BackingSize(size))
		// Sparse plaintext gives a sparse-looking view, so cp and
		// rsync --sparse keep the copy's holes.
		if size > 0 {
			a.Blocks = min(uint64(float64(st.Blocks)*float64(a.Size)/float64(size))+1, (a.Size+511)/512)
		}
	case kindSymlink:
		n, _ := vault.ReverseSymlinkLen(int(st.Size))
		a.Size = uint64(n)
		a.Blocks = 0
	case kindFifo, kindDir:
	default:
		a.Mode = syscall.S_IFREG | 0o400
		a.Nlink = 1
		a.Size = uint64(len(n.content()))
		a.Blocks = (a.Size + 511) / 512
	}
	return 0
}

// content is the bytes of one of the view's own files.
func (n *rnode) content() []byte {
	switch n.kind {
	case kindDirIV:
		return n.rr.rv.DirIV(n.rel)
	case kindHeader:
		return n.rr.rv.ForwardHeader()
	case kindSidecar:
		return n.data
	}
	return nil
}

func (n *rnode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.kind != kindSymlink {
		return nil, syscall.EINVAL
	}
	target, err := n.rr.dirs.readlink(n.rel)
	if err != nil {
		return nil, n.rr.errno(n.rel, "readlink", err)
	}
	tok, err := n.rr.rv.EncryptSymlink(n.rel, target)
	if err != nil {
		return nil, n.rr.errno(n.rel, "readlink", err)
	}
	return []byte(tok), 0
}

// Open opens a file of the view for reading; the plaintext file is
// opened without following a symlink or blocking on a FIFO put in its
// place, and its size then fixes the view's layout for this handle.
func (n *rnode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		return nil, 0, syscall.EROFS
	}
	switch n.kind {
	case kindDirIV, kindHeader, kindSidecar:
		return &rbytesHandle{data: n.content()}, 0, 0
	case kindFile:
	default:
		return nil, 0, syscall.EINVAL
	}
	f, err := n.rr.dirs.open(n.rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK)
	if err != nil {
		return nil, 0, n.rr.errno(n.rel, "open", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, syscall.ENOENT
	}
	h := &rfileHandle{rr: n.rr, rel: n.rel, f: f, size: fi.Size(), c: n.rr.rv.OpenContent(f, n.rel, fi.Size())}
	return h, 0, 0
}

func (n *rnode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.rr.rv.Dir(), &st); err != nil {
		return gofs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	return 0
}

// rfileHandle is an open file of the view.
type rfileHandle struct {
	rr   *reverseRoot
	rel  string
	f    *os.File
	size int64
	c    *vault.ReverseContent
}

func (h *rfileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.c.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		if errors.Is(err, vault.ErrShrunk) {
			h.rr.log.Printf("%s: %v", quoteRel(h.rel), err)
			return nil, syscall.EIO
		}
		return nil, h.rr.errno(h.rel, "read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *rfileHandle) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	return 0
}

// rbytesHandle is an open diriv, header or sidecar.
type rbytesHandle struct{ data []byte }

func (h *rbytesHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(dest[:copy(dest, h.data[off:])]), 0
}
