package vault

import "golang.org/x/sys/unix"

// OpenBackingFileStatx is OpenBackingFile for the mount, with statx in
// place of fstat: st receives the basic fields and the birth time, which
// the mount uses as the inode generation.
func OpenBackingFileStatx(dirfd int, name string, flags int, mode uint32, st *unix.Statx_t) (int, error) {
	return openBackingWith(dirfd, name, flags, mode, func(fd int) (uint32, error) {
		err := fstatx(fd, unix.STATX_BASIC_STATS|unix.STATX_BTIME, st)
		return uint32(st.Mode) & unix.S_IFMT, err
	})
}

// fstatx is statx(2) of the file open as fd, retried on EINTR.
func fstatx(fd int, mask int, st *unix.Statx_t) error {
	for {
		err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, mask, st)
		if err != unix.EINTR {
			return err
		}
	}
}
