package vault

import "golang.org/x/sys/unix"

// fallocateKeepSize allocates bytes [off, off+n) of the file fd without
// changing its size; a filesystem that cannot answers EOPNOTSUPP.
func fallocateKeepSize(fd uintptr, off, n int64) error {
	err := unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == unix.ENOSYS {
		return unix.EOPNOTSUPP
	}
	return err
}
