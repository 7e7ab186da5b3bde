package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

var _ gofs.NodeTmpfiler = (*node)(nil)

// Tmpfile answers open(2) with O_TMPFILE (glibc's tmpfile(3), and
// programs that write a file completely before linking it into place)
// with an unnamed backing file in this directory. Its content is
// encrypted like any other file's; it vanishes on the last close unless
// linked, which Link does through its open fd.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (ch *gofs.Inode, fh gofs.FileHandle, fuseFlags uint32, errno syscall.Errno) {
	defer n.r().guard("tmpfile", &errno)
	if n.r().readOnly {
		return nil, nil, 0, syscall.EROFS
	}
	d, errno := n.acquireDir()
	if errno != 0 {
		return nil, nil, 0, errno
	}
	defer n.releaseDir()
	// O_EXCL passes through: the backing file then refuses to be linked,
	// as the kernel refuses the plaintext one.
	fd, err := openAt(d.Fd(), ".", unix.O_TMPFILE|unix.O_RDWR|int(flags&unix.O_EXCL), mode&0o7777)
	if err != nil {
		return nil, nil, 0, n.r().errno(n, "tmpfile", err)
	}
	var st unix.Statx_t
	err = n.chownNew(ctx, d, "", fd, mode)
	if err == nil {
		err = statFd(fd, &st)
	}
	if err != nil {
		unix.Close(fd)
		return nil, nil, 0, n.r().errno(n, "tmpfile", err)
	}
	k := keyOf(&st)
	of, err := n.r().register(k, fd, true, joinPath(n.r().path(n), "(O_TMPFILE)"), int64(st.Size))
	if err != nil {
		return nil, nil, 0, n.r().errno(n, "tmpfile", err)
	}
	n.r().fillAttr(n, &out.Attr, &st, nil, "", "")
	ch = n.NewInode(ctx, n.r().newNode(k, unix.S_IFREG), n.r().stableAttr(k, unix.S_IFREG))
	return ch, n.r().newHandle(ch.Operations().(*node), of, flags), n.r().openFlags(flags), 0
}

// linkOpen links the backing file of tn, a node with no name (made by
// Tmpfile), as backing in dirfd through its open fd. ok is false if tn
// is not open, so there is nothing to link.
func (r *root) linkOpen(tn *node, dirfd int, backing string) (ok bool, err error) {
	of := r.lookupOpen(tn.key())
	if of == nil {
		return false, nil
	}
	defer r.releaseContent(of)
	return true, withFd(of, func(fd int) error {
		return unix.Linkat(unix.AT_FDCWD, procFdPath(fd), dirfd, backing, unix.AT_SYMLINK_FOLLOW)
	})
}
