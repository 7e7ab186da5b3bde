package vault

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockJournal takes an exclusive open-file-description lock on the whole
// journal without waiting: the live mount holds it, so another mount or
// fsck (on this machine or, through NFS, GlusterFS or CephFS, on
// another) never replays or removes a journal still in use.
func lockJournal(f *os.File) error { return lockJournalAs(f, true) }

// lockJournalAs is lockJournal with a shared lock when write is false
// (fsck without --repair, which may have only read access).
func lockJournalAs(f *os.File, write bool) error {
	typ := int16(unix.F_RDLCK)
	if write {
		typ = unix.F_WRLCK
	}
	lk := unix.Flock_t{Type: typ}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// fallocateGrow allocates bytes [0, n) of fd, growing it.
func fallocateGrow(fd uintptr, n int64) error {
	return unix.Fallocate(int(fd), 0, 0, n)
}
