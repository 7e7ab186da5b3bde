package vault

import "golang.org/x/sys/unix"

// dirStamp returns the identity and times of the directory open as fd
// for dirIVCache; ok is false when they cannot be read or the directory
// has been removed (k is still set when known).
func dirStamp(fd int) (k dirIVKey, e dirIVEntry, ok bool) {
	var st unix.Statx_t
	if err := fstatx(fd, unix.STATX_INO|unix.STATX_NLINK|unix.STATX_CTIME|unix.STATX_BTIME, &st); err != nil {
		return k, e, false
	}
	k = dirIVKey{dev: unix.Mkdev(st.Dev_major, st.Dev_minor), ino: st.Ino}
	if st.Mask&(unix.STATX_INO|unix.STATX_NLINK|unix.STATX_CTIME) != unix.STATX_INO|unix.STATX_NLINK|unix.STATX_CTIME || st.Nlink == 0 {
		return k, e, false
	}
	e.changed = st.Ctime.Sec*1e9 + int64(st.Ctime.Nsec)
	if st.Mask&unix.STATX_BTIME != 0 {
		e.born = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return k, e, true
}
