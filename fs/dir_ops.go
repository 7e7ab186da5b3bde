package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

var (
	_ gofs.NodeLookuper   = (*node)(nil)
	_ gofs.NodeCreater    = (*node)(nil)
	_ gofs.NodeMkdirer    = (*node)(nil)
	_ gofs.NodeRmdirer    = (*node)(nil)
	_ gofs.NodeUnlinker   = (*node)(nil)
	_ gofs.NodeSymlinker  = (*node)(nil)
	_ gofs.NodeReadlinker = (*node)(nil)
	_ gofs.NodeLinker     = (*node)(nil)
	_ gofs.NodeMknoder    = (*node)(nil)
)

// Lookup translates the name and stats the backing entry: one
// encryption and one statx, no open.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	defer n.r().guard("lookup", &errno)
	if len(name) > 255 {
		return nil, syscall.ENAMETOOLONG
	}
	d, errno := n.acquireDir()
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	backing, err := d.BackingName(name)
	if err != nil {
		// Reserved or otherwise unrepresentable names do not exist.
		return nil, syscall.ENOENT
	}
	var st unix.Statx_t
	if err := statAt(d.Fd(), backing, &st); err != nil {
		return nil, n.r().errno(n, "lookup", err)
	}
	return n.newChild(ctx, d, name, backing, &st, out), 0
}

// prepare validates a new name and returns the parent's directory and
// the backing name (writing a long-name sidecar if needed). The caller
// must releaseDir.
func (n *node) prepare(name string) (*vault.Dir, string, syscall.Errno) {
	if n.r().readOnly {
		return nil, "", syscall.EROFS
	}
	if errno := nameErrno(name); errno != 0 {
		return nil, "", errno
	}
	d, errno := n.acquireDir()
	if errno != 0 {
		return nil, "", errno
	}
	backing, err := d.PrepareName(name)
	if err != nil {
		n.releaseDir()
		return nil, "", n.r().errno(n, "name "+name, err)
	}
	return d, backing, 0
}

// undoPrepare removes a long-name sidecar written by prepare when the
// operation failed and nothing exists under the name (a sidecar that
// belongs to an existing entry, as on EEXIST, stays).
func (n *node) undoPrepare(d *vault.Dir, backing string) {
	if !vault.IsReservedName(backing) {
		return
	}
	var st unix.Statx_t
	if err := statAt(d.Fd(), backing, &st); err == unix.ENOENT {
		d.ForgetName(backing)
	}
}

// chownNew gives an entry created by a root daemon for another user
// (allow_other) to that user, as a local filesystem would; the group
// stays inherited in a setgid directory. keep is the mode the entry was
// created with, for anything but a directory or symlink (0 there): chown
// clears setuid and setgid on such entries even when root calls it,
// while a local filesystem, which creates the entry as its caller and
// never chowns it, keeps them, so they are put back. The kernel has
// already dropped any setgid bit the caller may not set.
func (n *node) chownNew(ctx context.Context, d *vault.Dir, backing string, fd int, keep uint32) error {
	if !n.r().asRoot {
		return nil
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok || (caller.Uid == 0 && caller.Gid == 0) {
		return nil
	}
	gid := int(caller.Gid)
	var st unix.Statx_t
	if statFd(d.Fd(), &st) == nil && st.Mode&unix.S_ISGID != 0 {
		gid = -1
	}
	keep &= 0o7777
	restore := keep&(unix.S_ISUID|unix.S_ISGID) != 0
	if fd >= 0 {
		if err := unix.Fchown(fd, int(caller.Uid), gid); err != nil || !restore {
			return err
		}
		return unix.Fchmod(fd, keep)
	}
	if err := unix.Fchownat(d.Fd(), backing, int(caller.Uid), gid, unix.AT_SYMLINK_NOFOLLOW); err != nil || !restore {
		return err
	}
	return chmodAt(d.Fd(), backing, keep)
}

// Create makes and opens a regular file; the new backing file is
// registered as the inode's shared content right away.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (ch *gofs.Inode, fh gofs.FileHandle, fuseFlags uint32, errno syscall.Errno) {
	defer n.r().guard("create", &errno)
	d, backing, errno := n.prepare(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	defer n.releaseDir()
	// Create exclusively, so that only a file made here is given to the
	// caller (chownNew) and removed again if that fails. The kernel asks
	// only for names it believes absent; if one exists after all (made
	// in BACKING meanwhile) and the caller did not ask for O_EXCL, it is
	// opened as it is, through the type-checked open.
	var st unix.Statx_t
	created := true
	fd, err := openAt(d.Fd(), backing, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR, mode&0o7777)
	if err == unix.EEXIST && flags&unix.O_EXCL == 0 {
		created = false
		fd, err = openBackingAt(d.Fd(), backing, unix.O_RDWR, &st)
	}
	if err != nil {
		if created {
			n.undoPrepare(d, backing)
		}
		return nil, nil, 0, n.r().errno(n, "create", err)
	}
	if created {
		err = n.chownNew(ctx, d, backing, fd, mode)
		if err == nil {
			err = statFd(fd, &st)
		}
		if err != nil {
			unix.Close(fd)
			// Leave nothing behind that the caller was told failed
			// (a file owned by the daemon's user, say).
			unix.Unlinkat(d.Fd(), backing, 0)
			n.undoPrepare(d, backing)
			return nil, nil, 0, n.r().errno(n, "create", err)
		}
	}
	of, err := n.r().register(keyOf(&st), fd, true, joinPath(n.r().path(n), name), int64(st.Size))
	if err != nil {
		return nil, nil, 0, n.r().errno(n, "create", err)
	}
	if flags&unix.O_TRUNC != 0 && st.Size > 0 {
		if err := of.c.Truncate(0); err != nil {
			n.r().releaseContent(of)
			return nil, nil, 0, n.r().errno(n, "create", err)
		}
		st.Size = 0
	}
	ch = n.newChild(ctx, d, name, backing, &st, out)
	return ch, n.r().newHandle(ch.Operations().(*node), of, flags), n.r().openFlags(flags), 0
}

// Mkdir makes the backing directory with its directory IV.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	defer n.r().guard("mkdir", &errno)
	if n.r().readOnly {
		return nil, syscall.EROFS
	}
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	d, errno := n.acquireDir()
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	backing, sub, err := d.MkdirOpen(name, mode&0o7777)
	if err != nil {
		return nil, n.r().errno(n, "mkdir", err)
	}
	if sub != nil {
		defer func() {
			if sub != nil {
				sub.Close()
			}
		}()
	}
	if err := n.chownNew(ctx, d, backing, -1, 0); err != nil {
		return nil, n.r().errno(n, "mkdir", err)
	}
	// The new directory's own fd, when there is one, is what was made
	// even if a racing rename has since put something else under the name.
	var st unix.Statx_t
	if sub != nil {
		err = statFd(sub.Fd(), &st)
	} else {
		err = statAt(d.Fd(), backing, &st)
	}
	if err != nil {
		return nil, n.r().errno(n, "mkdir", err)
	}
	ch = n.newChild(ctx, d, name, backing, &st, out)
	if sub != nil && ch.Operations().(*node).adoptDir(sub, keyOf(&st)) {
		sub = nil
	}
	return ch, 0
}

// Unlink removes the backing entry and its long-name sidecar, and the
// sidecar of a long symlink target with its last link. Open handles keep
// working on their fd.
func (n *node) Unlink(ctx context.Context, name string) (errno syscall.Errno) {
	defer n.r().guard("unlink", &errno)
	if n.r().readOnly {
		return syscall.EROFS
	}
	d, errno := n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer n.releaseDir()
	backing, err := d.BackingName(name)
	if err != nil {
		return syscall.ENOENT
	}
	ll := n.watchLongLink(d, name, backing)
	if err := unix.Unlinkat(d.Fd(), backing, 0); err != nil {
		ll.done(n.r())
		return n.r().errno(n, "unlink", err)
	}
	ll.done(n.r())
	n.forgetName(d, backing)
	return 0
}

// forgetName drops the sidecar of a long name that no longer exists; a
// failure only leaves a stray sidecar, which fsck reports.
func (n *node) forgetName(d *vault.Dir, backing string) {
	if err := d.ForgetName(backing); err != nil {
		n.r().log.Printf("%s: removing long-name sidecar of %s: %v", n.r().path(n), backing, err)
	}
}

// Rmdir removes an empty directory. Its backing directory still holds
// the directory IV (and possibly stray sidecars), which are removed
// first and restored if the rmdir fails.
func (n *node) Rmdir(ctx context.Context, name string) (errno syscall.Errno) {
	defer n.r().guard("rmdir", &errno)
	if n.r().readOnly {
		return syscall.EROFS
	}
	d, errno := n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer n.releaseDir()
	backing, err := d.BackingName(name)
	if err != nil {
		return syscall.ENOENT
	}
	err = n.r().removeEmptyDir(d, backing, n.childNode(name), func() error {
		return unix.Unlinkat(d.Fd(), backing, unix.AT_REMOVEDIR)
	})
	if err != nil {
		return n.r().errno(n, "rmdir", err)
	}
	n.forgetName(d, backing)
	return 0
}

// Symlink stores the target encrypted (a long one in a sidecar).
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	defer n.r().guard("symlink", &errno)
	d, backing, errno := n.prepare(name)
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	if err := n.r().v.Symlinkat(target, d.Fd(), backing); err != nil {
		n.undoPrepare(d, backing)
		return nil, n.r().errno(n, "symlink", err)
	}
	if err := n.chownNew(ctx, d, backing, -1, 0); err != nil {
		return nil, n.r().errno(n, "symlink", err)
	}
	var st unix.Statx_t
	if err := statAt(d.Fd(), backing, &st); err != nil {
		return nil, n.r().errno(n, "symlink", err)
	}
	return n.newChild(ctx, d, name, backing, &st, out), 0
}

// Readlink decrypts the stored target; a corrupt one is EIO and logged.
func (n *node) Readlink(ctx context.Context) (target []byte, errno syscall.Errno) {
	defer n.r().guard("readlink", &errno)
	p, d, backing, errno := n.at()
	if errno != 0 {
		return nil, errno
	}
	defer p.releaseDir()
	tok, err := readlinkAt(d.Fd(), backing)
	if err != nil {
		return nil, n.r().errno(n, "readlink", err)
	}
	t, err := n.r().v.DecryptSymlink(tok)
	if err != nil {
		return nil, n.r().errno(n, "readlink", err)
	}
	return []byte(t), 0
}

// Link makes a hard link; the kernel and go-fuse then share one inode
// (same backing inode number), and so one content and lock.
func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	defer n.r().guard("link", &errno)
	tn, ok := target.EmbeddedInode().Operations().(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	d, backing, errno := n.prepare(name)
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	var err error
	if tp, td, tbacking, errno := tn.at(); errno == 0 {
		err = unix.Linkat(td.Fd(), tbacking, d.Fd(), backing, 0)
		tp.releaseDir()
	} else if ok, lerr := n.r().linkOpen(tn, d.Fd(), backing); ok {
		// A file made with O_TMPFILE: no name, only its fd.
		err = lerr
	} else {
		n.undoPrepare(d, backing)
		return nil, errno
	}
	if err != nil {
		n.undoPrepare(d, backing)
		return nil, n.r().errno(n, "link", err)
	}
	var st unix.Statx_t
	if err := statAt(d.Fd(), backing, &st); err != nil {
		return nil, n.r().errno(n, "link", err)
	}
	return n.newChild(ctx, d, name, backing, &st, out), 0
}

// Mknod makes fifos, sockets, empty regular files and (as root)
// device nodes; their content never passes through the vault.
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (ch *gofs.Inode, errno syscall.Errno) {
	defer n.r().guard("mknod", &errno)
	d, backing, errno := n.prepare(name)
	if errno != 0 {
		return nil, errno
	}
	defer n.releaseDir()
	if err := unix.Mknodat(d.Fd(), backing, mode, int(dev)); err != nil {
		n.undoPrepare(d, backing)
		return nil, n.r().errno(n, "mknod", err)
	}
	if err := n.chownNew(ctx, d, backing, -1, mode); err != nil {
		return nil, n.r().errno(n, "mknod", err)
	}
	var st unix.Statx_t
	if err := statAt(d.Fd(), backing, &st); err != nil {
		return nil, n.r().errno(n, "mknod", err)
	}
	return n.newChild(ctx, d, name, backing, &st, out), 0
}
