package vault

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// dropCached writes f back and drops its pages from the page cache, so
// the next access to them goes to the device.
func dropCached(t *testing.T, f *os.File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}
