package vault

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// OpenBackingFile opens the backing file name, relative to dirfd, for
// content I/O: every reader (mount, fsck, cat, decrypt, repair) opens
// content through it or OpenBackingFileStatx. flags is O_RDONLY or
// O_RDWR (plus O_CREAT etc.). It never follows a symlink, never waits:
// the open is O_NONBLOCK so a FIFO planted in BACKING cannot hang the
// caller (nor pin a mount thread forever), and a device is never opened
// blocking. The entry must be a regular file, else the result wraps
// ErrNotRegular; O_NONBLOCK is then cleared, so a file lease or lock
// behaves as for a plain open. st receives the opened file's fstat.
func OpenBackingFile(dirfd int, name string, flags int, mode uint32, st *unix.Stat_t) (int, error) {
	return openBackingWith(dirfd, name, flags, mode, func(fd int) (uint32, error) {
		err := fstatRetry(fd, st)
		return uint32(st.Mode) & unix.S_IFMT, err
	})
}

// openBackingWith is OpenBackingFile with stat filling the caller's stat
// result and returning the S_IFMT bits.
func openBackingWith(dirfd int, name string, flags int, mode uint32, stat func(fd int) (uint32, error)) (int, error) {
	fd, err := openatRetry(dirfd, name, flags|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, mode)
	if err != nil {
		return -1, err
	}
	typ, err := stat(fd)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	if typ != unix.S_IFREG {
		unix.Close(fd)
		return -1, fmt.Errorf("%w (%s)", ErrNotRegular, fileTypeName(typ))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// fstatRetry stats an open fd, retrying when a signal interrupts it.
func fstatRetry(fd int, st *unix.Stat_t) error {
	for {
		err := unix.Fstat(fd, st)
		if err != unix.EINTR {
			return err
		}
	}
}

// fileTypeName names the S_IFMT bits of a mode for messages.
func fileTypeName(typ uint32) string {
	switch typ {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a fifo"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFLNK:
		return "a symlink"
	}
	return fmt.Sprintf("file type %#o", typ)
}

// ReadSmallFileAt is readSmallFileAt for the FUSE layer (a directory IV
// it must restore after a failed rmdir): bounded, no symlinks, no FIFOs.
func ReadSmallFileAt(dirfd int, name string, max int) ([]byte, error) {
	return readSmallFileAt(dirfd, name, max)
}
