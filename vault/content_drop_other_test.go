//go:build !linux

package vault

import (
	"os"
	"runtime"
	"testing"
)

// dropCached skips the test: only Linux can drop one file's pages from
// the page cache (posix_fadvise DONTNEED), which a cold read needs.
func dropCached(t *testing.T, f *os.File) {
	t.Helper()
	t.Skipf("dropping a file's cached pages needs Linux, not %s", runtime.GOOS)
}
