package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DirIVName is the per-directory IV file of encrypted-name vaults.
const DirIVName = "fernetfs.diriv"

// DirIVLen is the length of a directory IV.
const DirIVLen = 16

// CreateDirIV writes a fresh random directory IV into dir (mode 0400).
// Create uses it for the root; Dir.Mkdir writes IVs *at-relative instead.
func CreateDirIV(dir string) error {
	iv := make([]byte, DirIVLen)
	rand.Read(iv)
	return writeFileAtomic(dir, DirIVName, iv, 0o400)
}

// writeDirIVAt creates the IV file of a new, empty directory open as dfd
// and returns the IV written. O_EXCL: a directory that already has an IV
// keeps it, or its names would no longer decrypt.
func writeDirIVAt(dfd int) ([]byte, error) {
	iv := make([]byte, DirIVLen)
	rand.Read(iv)
	if err := writeNewFileAt(dfd, DirIVName, iv, 0o400); err != nil {
		return nil, err
	}
	return iv, nil
}

// readDirIVAt reads the IV of the directory open as dfd; path gives the
// name of the directory for errors. A missing or malformed IV means none of the
// directory's names can be decrypted, so it is corruption, not ENOENT.
func readDirIVAt(dfd int, path func() string) ([]byte, error) {
	iv, err := readSmallFileAt(dfd, DirIVName, DirIVLen)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Join(path(), DirIVName), err)
	}
	if len(iv) != DirIVLen {
		return nil, fmt.Errorf("%w: %s: %d bytes, want %d", ErrCorrupt, filepath.Join(path(), DirIVName), len(iv), DirIVLen)
	}
	return iv, nil
}

// writeNewFileAt creates name in dfd (it must not exist) holding data
// with mode perm. The mode applies only after creation, so a 0400 file
// can still be written through the creating descriptor.
func writeNewFileAt(dfd int, name string, data []byte, perm uint32) error {
	fd, err := openatRetry(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			unix.Unlinkat(dfd, name, 0)
			return err
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		unix.Unlinkat(dfd, name, 0)
		return err
	}
	return nil
}

// errTooLong: readSmallFileAt found more than max bytes.
var errTooLong = errors.New("too long")

// readSmallFileAt reads a regular file of at most max bytes from dfd
// without following a symlink and without blocking on a FIFO planted in
// its place (nor making a terminal planted there the controlling one).
// It reads at most max+1 bytes, whatever the file's size. A file of the
// wrong type is ErrNotRegular, one that is too long errTooLong.
func readSmallFileAt(dfd int, name string, max int) ([]byte, error) {
	fd, err := openatRetry(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, ErrNotRegular
	}
	buf := make([]byte, max+1)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	if n > max {
		return nil, fmt.Errorf("%w: more than %d bytes", errTooLong, max)
	}
	return buf[:n], nil
}

// openatRetry retries on EINTR, which FUSE-backed or network backing
// filesystems can return when a signal interrupts a slow open.
func openatRetry(dfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
