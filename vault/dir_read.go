package vault

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Errors of the offline readers that callers tell apart.
var (
	// ErrIsSymlink: a regular file was expected where the backing entry is
	// a symlink. The message names the decrypted target when it decodes.
	ErrIsSymlink = errors.New("is a symlink")
	// ErrNotRegular: a regular file was expected where the backing entry
	// is a directory, fifo, device or socket.
	ErrNotRegular = errors.New("not a regular file")
)

// OpenContent opens the regular file backing in d for reading and
// returns its Content (named name in error messages) and the file, which
// the caller closes after the Content. It opens relative to d's
// descriptor with O_NOFOLLOW and O_NONBLOCK and checks the type on the
// open descriptor before reading a byte, so a symlink, fifo or device
// planted in the backing tree is refused instead of followed or hung on.
func (d *Dir) OpenContent(backing, name string) (*Content, *os.File, error) {
	fd, err := openatRetry(d.fd, backing, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ELOOP) {
		target := "?"
		if t, err := d.ReadSymlink(backing); err == nil {
			target = fmt.Sprintf("%q", t)
		}
		return nil, nil, fmt.Errorf("%s %w to %s", name, ErrIsSymlink, target)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil, nil, fmt.Errorf("%s is a directory, %w", name, ErrNotRegular)
		}
		return nil, nil, fmt.Errorf("%s is %w", name, ErrNotRegular)
	}
	// O_NONBLOCK only kept a fifo from blocking the open; a regular file
	// gets ordinary blocking I/O.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	return d.v.OpenContent(f, name), f, nil
}

// ReadSymlink reads the backing symlink backing in d (readlinkat, bounded
// by the longest target Linux stores) and decrypts its target.
func (d *Dir) ReadSymlink(backing string) (string, error) {
	buf := make([]byte, maxBackingTarget+1)
	var n int
	var err error
	for {
		n, err = unix.Readlinkat(d.fd, backing, buf)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return "", d.pathErr("readlinkat", backing, err)
	}
	if n > maxBackingTarget {
		return "", fmt.Errorf("%w: symlink target longer than %d bytes", ErrCorrupt, maxBackingTarget)
	}
	return d.v.DecryptSymlink(string(buf[:n]))
}
