package vault

import "golang.org/x/sys/unix"

// readBacking is readFull for the lines of a read: when the read is
// small and not a continuation of the previous one, it copies them out
// of the backing mapping (see backingMap); where there is none, it
// first tries the page cache alone (RWF_NOWAIT) and, on a miss, asks
// the kernel for the surrounding coldWindow before reading.
func (c *Content) readBacking(p []byte, off int64) error {
	fd := c.fd.fd.Load()
	end := off + int64(len(p))
	prev := c.lastEnd.Swap(end)
	if fd < 0 || len(p) > coldWindow || off == 0 || off == prev {
		return c.readFull(p, off)
	}
	if m := c.mapped(end); m != nil {
		return c.copyMapped(p, m, off)
	}
	return c.readCachedFirst(int(fd), p, off)
}

// prefetchForWrite prepares a small write of n backing bytes at off that
// does not continue the previous access, in a backing file of size
// bytes. A line is never page aligned, so the kernel must read the
// partial pages at both ends before it can write them: with them not
// cached, every small write would wait for a device read or two. If
// cachestat(2) reports pages of the range missing, the aligned
// coldWindow around it is requested first, so that one device read
// serves this write and its neighbours'. Only the pages holding bytes
// below size count: those past the end are never read (the kernel
// zeroes them), and are never cached before the write, so counting them
// made every append ask for a window that was already cached. It
// reports whether it asked.
func (c *Content) prefetchForWrite(off, n, size int64) bool {
	fd := c.fd.fd.Load()
	end := off + n
	prev := c.lastEnd.Swap(end)
	end = min(end, size)
	if fd < 0 || n > coldWindow || off == 0 || off == prev || off >= end || c.fd.noCachestat.Load() {
		return false
	}
	cs, pages, ok := c.cachestat(fd, off, end)
	if !ok || cs.Cache >= pages {
		return false
	}
	lo := off &^ (coldWindow - 1)
	hi := max(lo+coldWindow, (end+4095)&^4095)
	unix.Fadvise(int(fd), lo, hi-lo, unix.FADV_WILLNEED)
	return true
}

// readOld reads the old backing bytes [off, off+len(p)) that a small
// in-place write is about to replace, for the undo journal. These are
// whole lines, so they cover the partial pages the write needs too,
// and prefetchForWrite is not asked first: when the write does not
// continue the previous access, the bytes are read from the page cache
// alone (RWF_NOWAIT), and only on a miss is the aligned coldWindow
// around them requested before the blocking read. A cached line (the
// usual case of a random rewrite) thus costs one system call instead
// of cachestat(2) and pread.
func (c *Content) readOld(p []byte, off int64) error {
	fd := c.fd.fd.Load()
	end := off + int64(len(p))
	prev := c.lastEnd.Swap(end)
	if fd < 0 || len(p) > coldWindow || off == 0 || off == prev {
		return c.readFull(p, off)
	}
	return c.readCachedFirst(int(fd), p, off)
}

// readCachedFirst reads p at off from the page cache alone
// (RWF_NOWAIT) and, on a miss, requests the aligned coldWindow around
// it before the blocking read, so that one device read serves this
// access and its neighbours'.
func (c *Content) readCachedFirst(fd int, p []byte, off int64) error {
	n, err := unix.Preadv2(fd, [][]byte{p}, off, unix.RWF_NOWAIT)
	switch {
	case err == nil && n == len(p):
		return nil
	case err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL:
		c.fd.fd.Store(-1) // no RWF_NOWAIT here: plain reads from now on
		return c.readFull(p, off)
	}
	end := off + int64(len(p))
	lo := off &^ (coldWindow - 1)
	hi := max(lo+coldWindow, (end+4095)&^4095)
	unix.Fadvise(fd, lo, hi-lo, unix.FADV_WILLNEED)
	return c.readFull(p, off)
}

// cachestat asks cachestat(2) about the pages of the backing file fd
// that hold bytes [start, end), and returns its answer and how many
// pages that is. ok is false when it fails; once it is missing (before
// Linux 6.5) it is not asked again.
func (c *Content) cachestat(fd, start, end int64) (cs unix.Cachestat_t, pages uint64, ok bool) {
	first := start &^ 4095
	rng := unix.CachestatRange{Off: uint64(first), Len: uint64(end - first)}
	if err := unix.Cachestat(uint(fd), &rng, &cs, 0); err != nil {
		if err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL {
			c.fd.noCachestat.Store(true)
		}
		return cs, 0, false
	}
	return cs, (rng.Len + 4095) / 4096, true
}

// WillRead tells the kernel that the file is about to be read from the
// start, as an open for reading usually means: the first coldWindow of
// the backing file is requested at once (FADV_WILLNEED, asynchronous),
// so the device read overlaps the OPEN reply and the READ that follows
// instead of starting only when that READ arrives. When the pages are
// cached it costs one cheap system call.
func (c *Content) WillRead() {
	if fd := c.fd.fd.Load(); fd >= 0 {
		unix.Fadvise(int(fd), 0, coldWindow, unix.FADV_WILLNEED)
	}
}
