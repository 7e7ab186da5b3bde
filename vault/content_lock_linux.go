package vault

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// The Linux system calls of shared storage (content_lock.go).

// fuseSuperMagic is FUSE's f_type in statfs.
const fuseSuperMagic = 0x65735546

// onFUSE reports whether fd is a file on a FUSE filesystem.
func onFUSE(fd int) bool {
	var fs unix.Statfs_t
	return unix.Fstatfs(fd, &fs) == nil && fs.Type == fuseSuperMagic
}

// statSize is the backing file's size. On shared storage it asks the
// filesystem itself (AT_STATX_FORCE_SYNC: FUSE and NFS clients then
// skip their attribute caches), since another machine may have changed
// it a moment ago.
func (c *Content) statSize() (int64, error) {
	if c.sh.on && c.sh.fd >= 0 {
		var st unix.Statx_t
		for {
			err := unix.Statx(c.sh.fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_FORCE_SYNC, unix.STATX_SIZE, &st)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, err
			}
			return int64(st.Size), nil
		}
	}
	fi, err := c.b.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ofd takes (typ F_RDLCK or F_WRLCK) or releases (F_UNLCK) an OFD lock
// on [start, start+length) of the backing file, waiting for it.
func (c *Content) ofd(typ int16, start, length int64) error {
	if c.sh.fd < 0 {
		return nil
	}
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: start, Len: length}
	for {
		err := unix.FcntlFlock(uintptr(c.sh.fd), unix.F_OFD_SETLKW, &lk)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("%s: locking backing file: %w", c.Name(), err)
			}
			return nil
		}
	}
}

// dropPages drops the backing range [lo, hi) (the whole file if hi <=
// lo) from this machine's page cache. Under the lock nobody changes the
// range: what is read next comes from the filesystem, not from stale
// local pages. DONTNEED drops only whole pages, so the range is rounded
// out; the header line's page goes too (another machine may have begun
// the file anew with another file ID).
func (c *Content) dropPages(lo, hi int64) {
	if hi <= lo {
		unix.Fadvise(c.sh.fd, 0, 0, unix.FADV_DONTNEED)
		return
	}
	const page = 4096
	lo, hi = lo&^(page-1), (hi+page-1)&^(page-1)
	unix.Fadvise(c.sh.fd, 0, page, unix.FADV_DONTNEED)
	unix.Fadvise(c.sh.fd, lo, hi-lo, unix.FADV_DONTNEED)
}
