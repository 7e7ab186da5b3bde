//go:build !linux

package vault

// Elsewhere than on Linux (where the offline commands, fsck, cat and
// decrypt, run; the mount is Linux-only) reads and writes go to the
// backing file as they come, without the page-cache hints of
// content_readahead_linux.go.

// readBacking is readFull.
func (c *Content) readBacking(p []byte, off int64) error { return c.readFull(p, off) }

// prefetchForWrite does nothing.
func (c *Content) prefetchForWrite(off, n int64) {}

// WillRead does nothing.
func (c *Content) WillRead() {}
