package vault

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// coldWindow is how much backing file a small read that misses the page
// cache brings in: the aligned 128 KiB around it (the kernel's default
// read-ahead size), about 23 chunks of 4 KiB.
//
// Chunk lines are not page aligned and a cold miss costs a whole device
// round trip, while the kernel reads only the pages a small random read
// touches (2-3 per line) until it sees a sequential pattern. Reading the
// surrounding 128 KiB costs about the same latency on SSD-class storage
// and turns later reads of neighbouring chunks into page-cache hits,
// much as filesystems that transform data read whole extents. It only
// warms fernetfs's own backing cache (never the plaintext page cache an
// application may have asked not to fill), and only on a miss: reads of
// cached data cost no extra system call, and sequential reads are left
// to the kernel. fio's random 4 KiB reads over a cold 256 MiB file read
// the same bytes from the device in a third as many requests.
const coldWindow = 128 << 10

// backingFd is the descriptor used for page-cache aware reads, or -1
// when the backing is not an *os.File (tests, tools) or preadv2 with
// RWF_NOWAIT turned out to be unsupported.
type backingFd struct {
	fd atomic.Int64
	// noCachestat is set once cachestat(2) (Linux 6.5) is missing.
	noCachestat atomic.Bool
}

func (b *backingFd) init(f Backing) {
	b.fd.Store(-1)
	of, ok := f.(*os.File)
	if !ok {
		return
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { b.fd.Store(int64(fd)) })
}

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
	n, err := unix.Preadv2(int(fd), [][]byte{p}, off, unix.RWF_NOWAIT)
	switch {
	case err == nil && n == len(p):
		return nil
	case err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL:
		c.fd.fd.Store(-1) // no RWF_NOWAIT here: plain reads from now on
		return c.readFull(p, off)
	}
	lo := off &^ (coldWindow - 1)
	hi := max(lo+coldWindow, (end+4095)&^4095)
	unix.Fadvise(int(fd), lo, hi-lo, unix.FADV_WILLNEED)
	return c.readFull(p, off)
}

// prefetchForWrite prepares a small write of n backing bytes at off that
// does not continue the previous access. A line is never page aligned,
// so the kernel must read the partial pages at both ends before it can
// write them: with them not cached, every small write would wait for a
// device read or two. If cachestat(2) reports pages of the range
// missing, the aligned coldWindow around it is requested first, so that
// one device read serves this write and its neighbours'.
func (c *Content) prefetchForWrite(off, n int64) {
	fd := c.fd.fd.Load()
	end := off + n
	prev := c.lastEnd.Swap(end)
	if fd < 0 || n > coldWindow || off == 0 || off == prev || c.fd.noCachestat.Load() {
		return
	}
	first := off &^ 4095
	rng := unix.CachestatRange{Off: uint64(first), Len: uint64(end - first)}
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(fd), &rng, &cs, 0); err != nil {
		if err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL {
			c.fd.noCachestat.Store(true)
		}
		return
	}
	if cs.Cache >= (rng.Len+4095)/4096 {
		return
	}
	lo := off &^ (coldWindow - 1)
	hi := max(lo+coldWindow, (end+4095)&^4095)
	unix.Fadvise(int(fd), lo, hi-lo, unix.FADV_WILLNEED)
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
