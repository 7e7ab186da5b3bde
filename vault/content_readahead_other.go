//go:build !linux

package vault

// Elsewhere than on Linux (where the offline commands, fsck, cat and
// decrypt, run; the mount is Linux-only) reads and writes go to the
// backing file as they come, without the page-cache hints of
// content_readahead_linux.go.

// readBacking is readFull.
func (c *Content) readBacking(p []byte, off int64) error { return c.readFull(p, off) }

// readOld is readFull.
func (c *Content) readOld(p []byte, off int64) error { return c.readFull(p, off) }

// prefetchForWrite does nothing.
func (c *Content) prefetchForWrite(off, n, size int64) bool { return false }

// WillRead does nothing.
func (c *Content) WillRead() {}

// readLines reads the backing bytes [start, stop) into a pooled buffer
// and returns the buffer (give it back with putBuf) and the bytes.
func (c *Content) readLines(start, stop int64) (*[]byte, []byte, error) {
	bp := c.getBuf(stop - start)
	if err := c.readFull(*bp, start); err != nil {
		return bp, nil, err
	}
	return bp, *bp, nil
}

// directFd is empty: reads bypass no cache here.
type directFd struct{}

func (d *directFd) init(raw int64) {}
func (d *directFd) close()         {}
