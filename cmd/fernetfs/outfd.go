//go:build linux

package main

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The *at and f* calls decrypt writes OUTDIR with. Each acts on an open
// descriptor, or on a name relative to one without following a symlink,
// so an entry of OUTDIR swapped for a symlink while decrypt runs can only
// redirect a call to that entry itself, never to a file outside OUTDIR.

// futimens sets the access and modification times of an open file
// (utimensat with a NULL path, which x/sys does not offer).
func futimens(fd int, ts *[2]unix.Timespec) error {
	return retry(func() error {
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

// utimesNoFollow sets the times of dirfd/name itself (a symlink, a fifo,
// a device node).
func utimesNoFollow(dirfd int, name string, ts *[2]unix.Timespec) error {
	return retry(func() error {
		return unix.UtimesNanoAt(dirfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	})
}

// chmodNoFollow changes the mode of dirfd/name without following a
// symlink: fchmodat2 (Linux 6.6+), else through an O_PATH descriptor
// of the entry itself named by /proc/self/fd. A symlink is refused
// (EOPNOTSUPP): its mode means nothing on Linux.
func chmodNoFollow(dirfd int, name string, mode uint32) error {
	err := retry(func() error { return unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW) })
	if err != unix.ENOSYS && err != unix.EOPNOTSUPP {
		return err
	}
	fd, err := openatNoFollow(dirfd, name, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return retry(func() error { return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode) })
}

// openatNoFollow opens dirfd/name, never following a symlink in name and
// never becoming a controlling terminal.
func openatNoFollow(dirfd int, name string, flags int, mode uint32) (int, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, mode)
		return err
	})
	return fd, err
}

// retry repeats a call that a signal interrupted.
func retry(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
