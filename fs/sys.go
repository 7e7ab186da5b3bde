package fs

import (
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statxMask asks for what stat(2) returns plus the birth time, which
// becomes the inode generation so a recycled backing inode number is
// never mistaken for the file that had it before.
const statxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME

// statAt stats a backing entry relative to a directory fd without
// following a symlink, so a link planted in BACKING cannot point a
// stat (or the size derived from it) elsewhere.
func statAt(dirfd int, name string, st *unix.Statx_t) error {
	if strings.IndexByte(name, 0) >= 0 {
		return unix.EINVAL
	}
	return statAtBuf(dirfd, append([]byte(name), 0), st)
}

// statAtBuf is statAt for a name given NUL-terminated in buf, so that a
// caller statting many names (a listing's) reuses one buffer instead of
// a copy of each name.
func statAtBuf(dirfd int, buf []byte, st *unix.Statx_t) error {
	if len(buf) == 0 || buf[len(buf)-1] != 0 {
		return unix.EINVAL
	}
	return ignoringEINTR(func() error {
		_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(&buf[0])),
			unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, statxMask, uintptr(unsafe.Pointer(st)), 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

// statFd stats an open fd; it is how getattr works for open (possibly
// unlinked) files and for cached directory fds.
func statFd(fd int, st *unix.Statx_t) error {
	return ignoringEINTR(func() error {
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, statxMask, st)
	})
}

// openAt opens a backing entry relative to dirfd, never following a
// symlink in the last component and never becoming a controlling tty.
func openAt(dirfd int, name string, flags int, mode uint32) (int, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, mode)
		return err
	})
	return fd, err
}

// procFdPath names an fd through /proc so path-only syscalls (xattrs,
// chmod on an O_PATH fd) act on exactly the inode we opened.
func procFdPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// chmodAt changes the mode of a backing entry without following a
// symlink in its last component. fchmodat2 (Linux 6.6+) does it in one
// call; older kernels go through an O_PATH fd and /proc.
func chmodAt(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.ENOSYS && err != unix.EOPNOTSUPP {
		return err
	}
	fd, err := openAt(dirfd, name, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := statFd(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return unix.Chmod(procFdPath(fd), mode)
}

// ignoringEINTR retries a syscall interrupted by a signal; the Go
// runtime's preemption signals make EINTR common under load.
func ignoringEINTR(fn func() error) error {
	for {
		err := fn()
		if err != unix.EINTR {
			return err
		}
	}
}
