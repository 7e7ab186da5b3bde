//go:build !linux

package vault

// Elsewhere than on Linux only the offline commands run, and they never
// turn shared storage on: there is no mount to share with.

// onFUSE reports false.
func onFUSE(fd int) bool { return false }

// statSize is the backing file's size.
func (c *Content) statSize() (int64, error) {
	fi, err := c.b.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ofd does nothing.
func (c *Content) ofd(typ int16, start, length int64) error { return nil }

// dropPages does nothing.
func (c *Content) dropPages(lo, hi int64) {}
