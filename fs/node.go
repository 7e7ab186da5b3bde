package fs

import (
	"context"
	"os"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// node is every plaintext inode: file, directory, symlink or special
// file. It holds no path: the parent and name come from the go-fuse
// tree, which follows renames, and directories cache an open backing
// fd, so operations are *at calls relative to that fd.
//
// A directory of 100,000 files holds 100,000 nodes, so a node is the
// go-fuse Inode alone, one 96-byte allocation: what only directories
// and a few other nodes need (nodeExt) is attached to the Inode with
// SetData, and the root is found through the tree's root node.
type node struct {
	gofs.Inode
}

// nodeExt is what only some nodes carry: directories their cached fd,
// and nodes whose backing inode cannot be derived from the go-fuse
// identity (on another filesystem than the vault's root, or the root
// itself, mounted with generation 1, see rootStableAttr) their key.
type nodeExt struct {
	key fileKey
	// dir is set for directories only.
	dir *dirState
	// r is set in the root node only (see node.r).
	r *root
}

// r is the mount's root, kept in the root node's nodeExt. n must be
// the root node or have been added to the tree (NewInode).
func (n *node) r() *root {
	e := n.ext()
	if e == nil || e.r == nil {
		e = n.Root().Operations().(*node).ext()
	}
	return e.r
}

// newNode makes the node for backing inode k of type mode (S_IFMT
// bits), whose go-fuse identity is r.stableAttr(k, mode).
func (r *root) newNode(k fileKey, mode uint32) *node {
	n := &node{}
	if mode == unix.S_IFDIR || k.dev != r.rootDev {
		ext := &nodeExt{key: k}
		if mode == unix.S_IFDIR {
			ext.dir = &dirState{}
		}
		n.SetData(ext)
	}
	return n
}

// ext is what SetData attached, nil for most nodes.
func (n *node) ext() *nodeExt {
	e, _ := n.Data().(*nodeExt)
	return e
}

// stableAttr is the go-fuse identity of backing inode k of type mode.
func (r *root) stableAttr(k fileKey, mode uint32) gofs.StableAttr {
	return gofs.StableAttr{Mode: mode, Ino: r.ino(k), Gen: k.gen}
}

// key is the backing inode, which selects the shared content of open
// files: kept in ext, or else on the root's filesystem, where the
// go-fuse identity holds the backing inode number and generation.
func (n *node) key() fileKey {
	if e := n.ext(); e != nil {
		return e.key
	}
	a := n.StableAttr()
	return fileKey{dev: n.r().rootDev, ino: a.Ino, gen: a.Gen}
}

// dir is the directory's cached fd state, nil for other nodes.
func (n *node) dir() *dirState {
	e := n.ext()
	if e == nil {
		return nil
	}
	return e.dir
}

// dirState caches a directory's open vault.Dir (fd + IV). It is opened
// on first use and closed when the kernel forgets the node; users
// counts requests using the fd so OnForget never closes an fd under a
// running request.
type dirState struct {
	mu        sync.Mutex
	d         *vault.Dir
	users     int
	forgotten bool
	// recent is set by each use, cleared by the eviction scan.
	recent bool
	// plus records which entries a listing with attributes has
	// given the kernel lately (see dirHandle.quiet).
	plus plusRecord
}

// acquireDir returns n's open backing directory, opening it through
// the parent on first use. Every successful call must be paired with
// releaseDir.
func (n *node) acquireDir() (*vault.Dir, syscall.Errno) {
	ds := n.dir()
	if ds == nil {
		return nil, syscall.ENOTDIR
	}
	ds.mu.Lock()
	if ds.d != nil {
		ds.users++
		ds.recent = true
		d := ds.d
		ds.mu.Unlock()
		return d, 0
	}
	ds.mu.Unlock()

	name, parent := n.Parent()
	if parent == nil {
		return nil, syscall.ENOENT
	}
	pn := parent.Operations().(*node)
	pd, errno := pn.acquireDir()
	if errno != 0 {
		return nil, errno
	}
	d, err := pd.OpenDir(name)
	pn.releaseDir()
	if err != nil {
		return nil, n.r().errno(n, "open directory", err)
	}
	// The tree is updated only after a rename returns, so a racing
	// rename could have put another directory under this name.
	var st unix.Statx_t
	if err := statFd(d.Fd(), &st); err != nil || keyOf(&st) != n.key() {
		d.Close()
		return nil, syscall.ENOENT
	}
	ds.mu.Lock()
	installed := ds.d == nil
	if installed {
		ds.d = d
	} else {
		d.Close()
		d = ds.d
	}
	ds.users++
	ds.mu.Unlock()
	if installed {
		n.r().noteOpenDir(ds)
	}
	return d, 0
}

// adoptDir installs d, the directory Mkdir has just made and opened with
// the IV it wrote, as n's cached directory, so the first request inside
// it (tar's CREATE right after its MKDIR) needs no open and no IV read.
// It reports false, leaving d to the caller, when n already has one, is
// forgotten, or is not d's backing inode k.
func (n *node) adoptDir(d *vault.Dir, k fileKey) bool {
	ds := n.dir()
	if ds == nil || k != n.key() {
		return false
	}
	ds.mu.Lock()
	ok := ds.d == nil && !ds.forgotten
	if ok {
		ds.d = d
		ds.recent = true
	}
	ds.mu.Unlock()
	if ok {
		n.r().noteOpenDir(ds)
	}
	return ok
}

// cachedDir is acquireDir without opening: it returns the directory's
// fd only if it is already open (nil otherwise), so a stat does not pay
// for opening a directory nobody lists. Pair a non-nil result with
// releaseDir.
func (n *node) cachedDir() *vault.Dir {
	ds := n.dir()
	if ds == nil {
		return nil
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.d == nil {
		return nil
	}
	ds.users++
	ds.recent = true
	return ds.d
}

// releaseDir ends a use of the fd returned by acquireDir.
func (n *node) releaseDir() {
	ds := n.dir()
	ds.mu.Lock()
	ds.users--
	if ds.forgotten && ds.users == 0 && ds.d != nil {
		ds.d.Close()
		ds.d = nil
	}
	ds.mu.Unlock()
}

var _ gofs.NodeOnForgetter = (*node)(nil)

// OnForget closes a directory's cached fd once the kernel has dropped
// the inode (and, for the root, at unmount).
func (n *node) OnForget() {
	ds := n.dir()
	if ds == nil {
		return
	}
	ds.mu.Lock()
	ds.forgotten = true
	if ds.users == 0 && ds.d != nil {
		ds.d.Close()
		ds.d = nil
	}
	ds.mu.Unlock()
}

// at locates n in the backing tree: its parent's open directory and
// its backing name there. The caller must call p.releaseDir(). A node
// with no parent is an unlinked file: ENOENT.
func (n *node) at() (p *node, d *vault.Dir, backing string, errno syscall.Errno) {
	name, parent := n.Parent()
	if parent == nil {
		return nil, nil, "", syscall.ENOENT
	}
	p = parent.Operations().(*node)
	d, errno = p.acquireDir()
	if errno != 0 {
		return nil, nil, "", errno
	}
	backing, err := d.BackingName(name)
	if err != nil {
		p.releaseDir()
		return nil, nil, "", p.r().errno(p, "name "+name, err)
	}
	return p, d, backing, 0
}

// newChild makes (or finds, for a hard link or a racing lookup) the
// node for a backing entry n's directory holds, and fills out with its
// plaintext attributes.
func (n *node) newChild(ctx context.Context, d *vault.Dir, name, backing string, st *unix.Statx_t, out *fuse.EntryOut) *gofs.Inode {
	n.r().fillAttr(n, &out.Attr, st, d, name, backing)
	k := keyOf(st)
	mode := uint32(st.Mode) & unix.S_IFMT
	id := n.r().stableAttr(k, mode)
	// A repeated lookup (the kernel's entry expired, a listing with
	// attributes) finds the node in the tree: go-fuse would return it
	// anyway, and a new node would only be garbage.
	if ch := n.GetChild(name); ch != nil && ch.StableAttr() == id {
		return ch
	}
	return n.NewInode(ctx, n.r().newNode(k, mode), id)
}

// fillAttr converts a backing stat into plaintext attributes. Sizes are
// plaintext: regular files from the backing size alone (or from the
// open content, which is consistent while a write runs), symlinks from
// the decrypted target. parent/name/backing locate the entry for
// symlinks and log lines; d may be nil when only an fd was statted.
func (r *root) fillAttr(parent *node, out *fuse.Attr, st *unix.Statx_t, d *vault.Dir, name, backing string) {
	k := keyOf(st)
	size := int64(st.Size)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		size = r.plainSize(parent, k, size, name, d, backing)
	case unix.S_IFLNK:
		if d != nil {
			size = r.symlinkSize(d, backing)
		}
	}
	out.Ino = r.ino(k)
	out.Size = uint64(size)
	out.Blocks = st.Blocks
	out.Atime = uint64(st.Atime.Sec)
	out.Atimensec = st.Atime.Nsec
	out.Mtime = uint64(st.Mtime.Sec)
	out.Mtimensec = st.Mtime.Nsec
	out.Ctime = uint64(st.Ctime.Sec)
	out.Ctimensec = st.Ctime.Nsec
	out.Mode = uint32(st.Mode)
	out.Nlink = st.Nlink
	out.Uid = st.Uid
	out.Gid = st.Gid
	out.Rdev = uint32(unix.Mkdev(st.Rdev_major, st.Rdev_minor))
	out.Blksize = st.Blksize
}

// plainSize is the plaintext size of a regular file. While the file is
// open its shared content answers (under its lock), because a write in
// progress passes through backing sizes that are not valid file sizes.
// A damaged file whose size fits no layout shows the size of its whole
// chunks (see vault.PrefixSize); opening it fails (see checkOpen).
//
// On shared storage a backing size that fits no file may be another
// machine's write caught halfway; it is read again under the vault's
// shared lock (d and backing locate the file; d may be nil).
func (r *root) plainSize(parent *node, k fileKey, backingSize int64, name string, d *vault.Dir, backing string) int64 {
	if of := r.lookupOpen(k); of != nil {
		size, err := of.c.Size()
		r.releaseContent(of)
		if err == nil {
			return size
		}
	} else if size, err := vault.PlainSize(backingSize, r.chunk); err == nil {
		return size
	} else if r.v.SharedStorage() && d != nil {
		if size, err := r.lockedSize(d, backing); err == nil {
			return size
		}
	}
	where := r.path(parent)
	if name != "" {
		where = joinPath(where, name)
	}
	r.reportBadSize(where, k, backingSize)
	return vault.PrefixSize(backingSize, r.chunk)
}

// symlinkSize is the length of the decrypted target, as lstat reports
// on a local filesystem (readlink callers size their buffer from it).
func (r *root) symlinkSize(d *vault.Dir, backing string) int64 {
	tok, err := readlinkAt(d.Fd(), backing)
	if err != nil {
		return 0
	}
	target, err := r.v.DecryptSymlink(tok)
	if err != nil {
		return 0
	}
	return int64(len(target))
}

// readlinkAt reads a backing symlink relative to a directory fd.
func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, 512)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// lockedSize is the plaintext size of a backing file read under the
// shared-storage lock.
func (r *root) lockedSize(d *vault.Dir, backing string) (int64, error) {
	fd, err := openAt(d.Fd(), backing, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), backing)
	defer f.Close()
	return r.v.LockedSize(f)
}
