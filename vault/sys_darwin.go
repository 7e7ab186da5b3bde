package vault

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Calls whose form differs between Linux and darwin.

// statMtime is the modification time in a stat result.
func statMtime(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtimespec.Unix()) }

// renameatNoReplace renames from to to, failing if to exists.
func renameatNoReplace(fromfd int, from string, tofd int, to string) error {
	return unix.RenameatxNp(fromfd, from, tofd, to, unix.RENAME_EXCL)
}
