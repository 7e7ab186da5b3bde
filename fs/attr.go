package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

var (
	_ gofs.NodeGetattrer = (*node)(nil)
	_ gofs.NodeSetattrer = (*node)(nil)
	_ gofs.NodeStatfser  = (*node)(nil)
)

// target is where an attribute operation lands: an open fd (a file
// handle or a directory's cached fd, which also works after unlink or
// rename) or a name relative to the parent directory's fd.
type target struct {
	fd    int // -1 if none
	dirfd int
	name  string
}

func (t target) stat(st *unix.Statx_t) error {
	if t.fd >= 0 {
		return statFd(t.fd, st)
	}
	return statAt(t.dirfd, t.name, st)
}

func (t target) chmod(mode uint32) error {
	if t.fd >= 0 {
		return unix.Fchmod(t.fd, mode)
	}
	return chmodAt(t.dirfd, t.name, mode)
}

func (t target) chown(uid, gid int) error {
	if t.fd >= 0 {
		return unix.Fchown(t.fd, uid, gid)
	}
	return unix.Fchownat(t.dirfd, t.name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

func (t target) utimes(ts []unix.Timespec) error {
	if t.fd >= 0 {
		return unix.UtimesNanoAt(t.fd, "", ts, unix.AT_EMPTY_PATH)
	}
	return unix.UtimesNanoAt(t.dirfd, t.name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// withTarget runs fn on the best way to reach n: the handle's fd, the
// directory's own fd, else the parent's fd and the backing name.
func (n *node) withTarget(f gofs.FileHandle, fn func(t target) error) syscall.Errno {
	if h, ok := f.(*handle); ok && h != nil {
		return n.r().errno(n, "attributes", withFd(h.of, func(fd int) error {
			return fn(target{fd: fd})
		}))
	}
	if d := n.cachedDir(); d != nil {
		defer n.releaseDir()
		return n.r().errno(n, "attributes", fn(target{fd: d.Fd()}))
	}
	if of := n.r().lookupOpen(n.key()); of != nil {
		// The kernel sends no handle for futimens, fchmod or fchown, but
		// an open file (tar sets times, owner and mode before closing)
		// is reached through its fd without translating its name.
		defer n.r().releaseContent(of)
		return n.r().errno(n, "attributes", withFd(of, func(fd int) error {
			return fn(target{fd: fd})
		}))
	}
	p, d, backing, errno := n.at()
	if errno != 0 {
		return errno
	}
	defer p.releaseDir()
	return n.r().errno(n, "attributes", fn(target{fd: -1, dirfd: d.Fd(), name: backing}))
}

// Getattr stats the backing entry and reports plaintext sizes; it never
// opens or reads a file. For an open file the kernel's handle (or any
// handle go-fuse finds) is used, so fstat of an unlinked file works.
func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) (errno syscall.Errno) {
	if n.IsRoot() {
		defer n.r().guardPassive("getattr", &errno)
	} else {
		defer n.r().guard("getattr", &errno)
	}
	return n.getattr(f, &out.Attr)
}

func (n *node) getattr(f gofs.FileHandle, out *fuse.Attr) syscall.Errno {
	var st unix.Statx_t
	if h, ok := f.(*handle); ok && h != nil {
		if err := withFd(h.of, func(fd int) error { return statFd(fd, &st) }); err != nil {
			return n.r().errno(n, "stat", err)
		}
		n.r().fillAttr(n, out, &st, nil, "", "")
		return 0
	}
	if d := n.cachedDir(); d != nil {
		err := statFd(d.Fd(), &st)
		n.releaseDir()
		if err != nil {
			return n.r().errno(n, "stat", err)
		}
		n.r().fillAttr(n, out, &st, nil, "", "")
		return 0
	}
	if of := n.r().lookupOpen(n.key()); of != nil {
		// Open elsewhere: fstat, no name translation.
		err := withFd(of, func(fd int) error { return statFd(fd, &st) })
		n.r().releaseContent(of)
		if err != nil {
			return n.r().errno(n, "stat", err)
		}
		n.r().fillAttr(n, out, &st, nil, "", "")
		return 0
	}
	p, d, backing, errno := n.at()
	if errno != 0 {
		return errno
	}
	defer p.releaseDir()
	if err := statAt(d.Fd(), backing, &st); err != nil {
		return n.r().errno(n, "stat", err)
	}
	name, _ := n.Parent()
	n.r().fillAttr(p, out, &st, d, name, backing)
	return 0
}

// Setattr applies truncate (through the shared content, under its
// lock), chmod, chown and utimens, then reports the new attributes.
func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) (errno syscall.Errno) {
	defer n.r().guard("setattr", &errno)
	if n.r().readOnly {
		return syscall.EROFS
	}
	if size, ok := in.GetSize(); ok {
		if n.dir() != nil {
			return syscall.EISDIR
		}
		if errno := n.truncate(f, int64(size)); errno != 0 {
			return errno
		}
	}
	if in.Valid&fuse.FATTR_KILL_SUIDGID != 0 {
		// Truncate, chown, or (through killPrivFS) a write or O_TRUNC
		// open by a caller without CAP_FSETID. A chown has already
		// cleared them on the backing file, which the daemon's chown
		// does whatever its privileges; the rest need it done here.
		if errno := n.withTarget(f, func(t target) error { return t.killSuidgid() }); errno != 0 {
			return errno
		}
	}
	if mode, ok := in.GetMode(); ok {
		if errno := n.withTarget(f, func(t target) error { return t.chmod(mode) }); errno != 0 {
			return errno
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if errno := n.withTarget(f, func(t target) error { return t.chown(u, g) }); errno != 0 {
			return errno
		}
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
		ts := []unix.Timespec{
			timespec(in.Valid, fuse.FATTR_ATIME, fuse.FATTR_ATIME_NOW, in.Atime, in.Atimensec),
			timespec(in.Valid, fuse.FATTR_MTIME, fuse.FATTR_MTIME_NOW, in.Mtime, in.Mtimensec),
		}
		if errno := n.withTarget(f, func(t target) error { return t.utimes(ts) }); errno != 0 {
			return errno
		}
	}
	// go-fuse leaves the timeout of SETATTR replies at zero, which
	// would make the kernel send a GETATTR for the next stat (tar's
	// fchown after futimens); the reply is as fresh as a GETATTR's.
	// With shared storage that is zero: the kernel asks again.
	out.SetTimeout(n.r().timeout)
	return n.getattr(f, &out.Attr)
}

// timespec builds one utimensat time from the setattr bits, keeping
// UTIME_NOW and UTIME_OMIT so the backing filesystem stamps the time.
func timespec(valid, set, now uint32, sec uint64, nsec uint32) unix.Timespec {
	switch {
	case valid&set == 0:
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	case valid&now != 0:
		return unix.Timespec{Nsec: unix.UTIME_NOW}
	}
	return unix.Timespec{Sec: int64(sec), Nsec: int64(nsec)}
}

// truncate changes the plaintext size through the inode's shared
// content: the handle's if the kernel sent one, else any open one, else
// a short-lived one.
func (n *node) truncate(f gofs.FileHandle, size int64) syscall.Errno {
	if h, ok := f.(*handle); ok && h != nil {
		return n.r().errno(n, "truncate", h.of.c.Truncate(size))
	}
	of, errno := n.r().acquireContent(n, true)
	if errno != 0 {
		return errno
	}
	defer n.r().releaseContent(of)
	return n.r().errno(n, "truncate", of.c.Truncate(size))
}

// Statfs reports the backing filesystem's space; names may be up to 255
// plaintext bytes (longer tokens are stored as long names).
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) (errno syscall.Errno) {
	defer n.r().guardPassive("statfs", &errno)
	rn := n.Root().Operations().(*node)
	d, errno := rn.acquireDir()
	if errno != 0 {
		return errno
	}
	defer rn.releaseDir()
	var s unix.Statfs_t
	if err := unix.Fstatfs(d.Fd(), &s); err != nil {
		return n.r().errno(n, "statfs", err)
	}
	out.Blocks = s.Blocks
	out.Bfree = s.Bfree
	out.Bavail = s.Bavail
	out.Files = s.Files
	out.Ffree = s.Ffree
	out.Bsize = uint32(s.Bsize)
	out.Frsize = uint32(s.Frsize)
	out.NameLen = 255
	return 0
}
