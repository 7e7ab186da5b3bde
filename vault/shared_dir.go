package vault

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// dirIVWait bounds how long a shared-storage lookup waits for the IV of
// a directory another mount has just made: its mkdir and the O_EXCL
// create of its fernetfs.diriv are two steps, and a mount that lost the
// race to make the same directory (EEXIST) may look inside in between.
const dirIVWait = time.Second

// awaitDirIV retries reading the IV of the directory open as dfd while
// it does not exist yet, on shared storage only; first is the error of
// the first attempt, returned if the IV never appears.
func (v *Vault) awaitDirIV(dfd int, path func() string, first error) ([]byte, error) {
	if !v.shared {
		return nil, first
	}
	for deadline := time.Now().Add(dirIVWait); time.Now().Before(deadline); {
		var st unix.Stat_t
		err := unix.Fstatat(dfd, DirIVName, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Size >= DirIVLen {
			return readDirIVAt(dfd, path)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, first
}
