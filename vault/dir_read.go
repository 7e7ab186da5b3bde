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
// the caller closes after the Content. It opens through OpenBackingFile,
// relative to d's descriptor with O_NOFOLLOW and O_NONBLOCK, and checks
// the type on the open descriptor before reading a byte, so a symlink,
// fifo or device planted in the backing tree is refused instead of
// followed or hung on.
func (d *Dir) OpenContent(backing, name string) (*Content, *os.File, error) {
	return d.openContent(backing, name, unix.O_RDONLY)
}

// OpenContentRW is OpenContent for reading and writing (fsck --repair).
func (d *Dir) OpenContentRW(backing, name string) (*Content, *os.File, error) {
	return d.openContent(backing, name, unix.O_RDWR)
}

func (d *Dir) openContent(backing, name string, flags int) (*Content, *os.File, error) {
	var st unix.Stat_t
	fd, err := OpenBackingFile(d.fd, backing, flags, 0, &st)
	if errors.Is(err, unix.ELOOP) {
		target := "?"
		if t, err := d.ReadSymlink(backing); err == nil {
			target = fmt.Sprintf("%q", t)
		}
		return nil, nil, fmt.Errorf("%s %w to %s", name, ErrIsSymlink, target)
	}
	if errors.Is(err, ErrNotRegular) {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil, nil, fmt.Errorf("%s is a directory, %w", name, ErrNotRegular)
		}
		return nil, nil, fmt.Errorf("%s is %w", name, ErrNotRegular)
	}
	if err != nil {
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
