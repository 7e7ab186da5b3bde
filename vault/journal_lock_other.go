//go:build !linux

package vault

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockJournal takes an exclusive flock on the journal without waiting
// (only the offline commands run elsewhere than on Linux).
func lockJournal(f *os.File) error { return lockJournalAs(f, true) }

// lockJournalAs is lockJournal, shared when write is false.
func lockJournalAs(f *os.File, write bool) error {
	how := unix.LOCK_SH
	if write {
		how = unix.LOCK_EX
	}
	return unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
}

// fallocateGrow does nothing: slots are allocated as they are written.
func fallocateGrow(fd uintptr, n int64) error { return nil }
