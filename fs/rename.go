package fs

import (
	"context"
	"os"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

var _ gofs.NodeRenamer = (*node)(nil)

// Rename is one renameat2 between the two parents' fds, supporting
// RENAME_NOREPLACE and RENAME_EXCHANGE. Directories keep their IV, so
// a moved directory's contents need no re-encryption; only the moved
// name is re-encrypted for its new parent. Long-name sidecars follow.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) (errno syscall.Errno) {
	defer n.r().guard("rename", &errno)
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return syscall.EINVAL
	}
	np, ok := newParent.EmbeddedInode().Operations().(*node)
	if !ok {
		return syscall.EXDEV
	}
	d1, errno := n.acquireDir()
	if errno != 0 {
		return errno
	}
	defer n.releaseDir()
	src, err := d1.BackingName(name)
	if err != nil {
		return syscall.ENOENT
	}
	d2, dst, errno := np.prepare(newName)
	if errno != 0 {
		return errno
	}
	defer np.releaseDir()
	if d1 == d2 && src == dst {
		return 0
	}
	rename := func() error {
		return ignoringEINTR(func() error {
			return unix.Renameat2(d1.Fd(), src, d2.Fd(), dst, uint(flags))
		})
	}
	var ll *longLinkWatch // a long symlink the rename may replace
	if flags&unix.RENAME_EXCHANGE == 0 {
		ll = np.watchLongLink(d2, newName, dst)
	}
	defer ll.done(n.r())
	err = rename()
	if (err == unix.ENOTEMPTY || err == unix.EEXIST) && flags == 0 {
		// The target may be a plaintext-empty directory that still
		// holds its IV file.
		err = n.r().removeEmptyDir(d2, dst, np.childNode(newName), rename)
	}
	if err != nil {
		np.undoPrepare(d2, dst)
		return n.r().errno(n, "rename", err)
	}
	if flags&unix.RENAME_EXCHANGE == 0 {
		n.forgetName(d1, src)
	}
	n.r().renamed(n, name, np, newName)
	return 0
}

// renamed updates the name an open file's content uses in its errors
// (from the tree, without syscalls; the tree itself is updated by
// go-fuse after Rename returns).
func (r *root) renamed(oldParent *node, oldName string, newParent *node, newName string) {
	ch := oldParent.GetChild(oldName)
	if ch == nil {
		return
	}
	cn, ok := ch.Operations().(*node)
	if !ok || cn.dir() != nil {
		return
	}
	if of := r.lookupOpen(cn.key()); of != nil {
		of.c.SetName(joinPath(r.path(newParent), newName))
		r.releaseContent(of)
	}
}

// removeEmptyDir runs op, an rmdir of (or a rename over) the directory
// backing in d, once that directory is empty in plaintext: it may hold
// only reserved names (the directory IV, stray sidecars), which are
// removed first; if op then fails the IV is put back, so a failed rmdir
// never loses the directory's names. child is the directory's node if
// the tree knows it: with its fd and IV cached (as after rm -r listed
// it), the common case costs two syscalls.
func (r *root) removeEmptyDir(d *vault.Dir, backing string, child *node, op func() error) error {
	if r.v.PlaintextNames() {
		return op()
	}
	if child != nil {
		if cd := child.cachedDir(); cd != nil {
			err := r.removeEmptyCached(cd, op)
			child.releaseDir()
			if err != unix.ENOTEMPTY && err != unix.EEXIST {
				return err
			}
			// Not empty, or only stray reserved files: look closer.
		}
	}
	fd, err := openAt(d.Fd(), backing, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		if err == unix.ENOTDIR {
			return op()
		}
		return err
	}
	f := os.NewFile(uintptr(fd), backing)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, nm := range names {
		if !vault.IsReservedName(nm) {
			return unix.ENOTEMPTY
		}
	}
	iv, ivErr := vault.ReadSmallFileAt(fd, vault.DirIVName, vault.DirIVLen)
	for _, nm := range names {
		if err := unix.Unlinkat(fd, nm, 0); err != nil && err != unix.ENOENT {
			return err
		}
	}
	if err := op(); err != nil {
		if ivErr == nil {
			if werr := writeSmallFileAt(fd, vault.DirIVName, iv, 0o400); werr != nil {
				r.log.Printf("restoring directory IV of backing directory %s: %v", backing, werr)
			}
		}
		return err
	}
	return nil
}

// removeEmptyCached removes the IV of an open directory, runs op and
// restores the IV if op fails.
func (r *root) removeEmptyCached(cd *vault.Dir, op func() error) error {
	if err := unix.Unlinkat(cd.Fd(), vault.DirIVName, 0); err != nil {
		return err
	}
	err := op()
	if err != nil {
		if werr := writeSmallFileAt(cd.Fd(), vault.DirIVName, cd.IV(), 0o400); werr != nil {
			r.log.Printf("restoring a directory IV: %v", werr)
		}
	}
	return err
}

// childNode is the tree's node for name in directory n, or nil.
func (n *node) childNode(name string) *node {
	ch := n.GetChild(name)
	if ch == nil {
		return nil
	}
	cn, _ := ch.Operations().(*node)
	return cn
}

// writeSmallFileAt recreates a small backing file and syncs it.
func writeSmallFileAt(dirfd int, name string, data []byte, mode uint32) error {
	fd, err := openAt(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, data, 0); err != nil {
		return err
	}
	return unix.Fsync(fd)
}
