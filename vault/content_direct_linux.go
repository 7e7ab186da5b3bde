package vault

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directMin is the smallest read of backing lines that may bypass the
// page cache (see directFd): the READs of a sequential read through the
// mount (1 MiB of plaintext, 1.4 MiB of lines), not small or random ones,
// which the page cache and the read-around of readBacking serve better.
const directMin = 256 << 10

// directAlign is the alignment of offset, length and memory that direct
// reads use: a page, which satisfies every block size up to it.
const directAlign = 4096

// directFd is a second descriptor of the backing file, opened with
// O_DIRECT, for large reads of backing lines that the page cache does
// not hold.
//
// The kernel keeps the plaintext of a file read through the mount in
// the mount's own page cache; caching its backing lines as well keeps
// every byte in memory twice, and filling fresh page-cache pages and
// copying out of them is most of the daemon's CPU time on a cold
// sequential read: on the benchmark VM, reading 1.46 GB of backing
// cold took 0.52-0.57 s of system time buffered and 0.10 s with
// O_DIRECT, with the same wall time. A direct read goes from the device
// straight into the read's buffer. It is used only when most of the
// range is not cached and none of it is dirty (see uncached), so it
// never forces dirty pages to disk, and only where the backing
// filesystem accepts it; otherwise reads are buffered.
type directFd struct {
	mu sync.Mutex // serializes opening and closing
	// fd is the O_DIRECT descriptor for reads: directUntried until the
	// first large cold read, directOff when unavailable, turned off or
	// closed.
	fd atomic.Int64
	// opened is the descriptor close closes, or -1; it outlives fd
	// being turned off, as a concurrent read may still be using it.
	opened int
}

const (
	directUntried = -2
	directOff     = -1
)

// init sets up d for a Content whose backing descriptor is raw (-1 for
// none: then direct reads are never tried).
func (d *directFd) init(raw int64) {
	d.opened = -1
	if raw < 0 {
		d.fd.Store(directOff)
		return
	}
	d.fd.Store(directUntried)
}

// get returns the O_DIRECT descriptor of the backing file raw, opening
// it the first time, or -1 when there is none.
func (d *directFd) get(raw int64) int {
	if fd := d.fd.Load(); fd != directUntried {
		return int(fd)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fd := d.fd.Load(); fd != directUntried {
		return int(fd)
	}
	fd := reopenDirect(int(raw))
	d.opened = fd
	d.fd.Store(int64(fd))
	return fd
}

// disable stops direct reads (the filesystem refused one). The
// descriptor stays open until close: a concurrent read may be using it,
// and a number closed under it could be reused by another file.
func (d *directFd) disable() { d.fd.Store(directOff) }

// close closes the descriptor; reads after it are buffered. The caller
// holds the Content's exclusive lock, so no read is using it.
func (d *directFd) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fd.Store(directOff)
	if d.opened >= 0 {
		unix.Close(d.opened)
		d.opened = -1
	}
}

// reopenDirect opens the file of descriptor raw again, read-only with
// O_DIRECT, through /proc/self/fd (the same inode, whatever its name is
// now), or returns -1. The new descriptor must be the same inode as
// raw: a /proc that is not procfs could hand back another file.
func reopenDirect(raw int) int {
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", raw),
		unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return directOff
	}
	var a, b unix.Stat_t
	if unix.Fstat(raw, &a) != nil || unix.Fstat(fd, &b) != nil ||
		a.Dev != b.Dev || a.Ino != b.Ino || b.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return directOff
	}
	return fd
}

// readLines reads the backing bytes [start, stop) into a pooled buffer
// and returns the buffer (give it back with putBuf) and the bytes. A
// large read of lines that are mostly not cached goes around the page
// cache (see directFd); every other read goes through readBacking.
func (c *Content) readLines(start, stop int64) (*[]byte, []byte, error) {
	if stop-start >= directMin && c.uncached(start, stop) {
		if fd := c.dio.get(c.fd.raw); fd >= 0 {
			c.lastEnd.Store(stop)
			bp, buf, ok, err := c.readDirect(fd, start, stop)
			if ok {
				return bp, buf, err
			}
			c.dio.disable()
		}
	}
	bp := c.getBuf(stop - start)
	if err := c.readBacking(*bp, start); err != nil {
		return bp, nil, err
	}
	return bp, *bp, nil
}

// uncached reports whether cachestat(2) says that the backing range
// [start, stop) is mostly not in the page cache (under a quarter of
// its pages), and that none of it is dirty or being written back: a
// direct read would first write those pages to disk. A clean cached
// page holds what the disk holds, so a direct read of it reads the
// same bytes. The quarter lets a sequential read stay direct past the
// pages that the kernel read ahead for the buffered reads at its start
// (WillRead's, and a first READ that found them cached).
func (c *Content) uncached(start, stop int64) bool {
	fd := c.fd.fd.Load()
	if fd < 0 || c.fd.noCachestat.Load() || c.dio.fd.Load() == directOff {
		return false
	}
	cs, pages, ok := c.cachestat(fd, start, stop)
	return ok && cs.Dirty == 0 && cs.Writeback == 0 && cs.Cache*4 < pages
}

// readDirect reads the backing bytes [start, stop) with the O_DIRECT
// descriptor fd, into a buffer aligned as direct I/O needs. ok is false
// when the filesystem refused the read as such (EINVAL: an alignment it
// does not take), and the caller reads buffered instead.
func (c *Content) readDirect(fd int, start, stop int64) (bp *[]byte, buf []byte, ok bool, err error) {
	lo := start &^ (directAlign - 1)
	hi := (stop + directAlign - 1) &^ (directAlign - 1)
	bp = c.getBuf(hi - lo + directAlign)
	b := *bp
	pad := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (directAlign - 1))
	b = b[pad : pad+int(hi-lo)]
	want := int(stop - lo)
	got := 0
	for got < want && got%directAlign == 0 {
		n, err := unix.Pread(fd, b[got:], lo+int64(got))
		if err == unix.EINTR {
			continue
		}
		if err == unix.EINVAL && got == 0 {
			c.putBuf(bp)
			return nil, nil, false, nil
		}
		if err != nil || n == 0 {
			break // readFull below reports it
		}
		got += n
	}
	if got < want {
		// A short read left the offset unaligned, or failed: the
		// rest is read buffered, which also names any error.
		if err := c.readFull(b[got:want], lo+int64(got)); err != nil {
			return bp, nil, true, err
		}
	}
	return bp, b[start-lo : stop-lo], true, nil
}
