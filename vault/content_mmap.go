package vault

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// backingMap is a read-only shared mapping of the backing file that
// small random reads copy their lines from.
//
// A 4 KiB random read through the mount is a few microseconds of
// crypto between two FUSE system calls; a pread of the 5.5 KiB line
// from the page cache costs about as much again, while a copy out of a
// mapping costs a tenth of it. The mapping sees every write (it shares
// the page cache with the pwrites that make them), and a page fault on
// an uncached page reads around it as the kernel does for any mapped
// file, which also warms the neighbouring chunks. Sequential and large
// reads keep using pread, where the kernel's read-ahead does better.
//
// A mapping is never unmapped while the Content is open: when the file
// grows past it, a larger one replaces it and the old one is kept until
// Close, so a reader holding the shared lock can never see its mapping
// vanish. It covers room to grow (beyond the end of the file, which is
// never touched) so that appends do not remap every time.
type backingMap struct {
	cur atomic.Pointer[[]byte]
	// off is set when mapping failed once (a backing that cannot be
	// mapped) or the Content was closed: reads use pread.
	off atomic.Bool

	mu  sync.Mutex // serializes growing and Close
	old [][]byte   // superseded mappings, unmapped by Close
}

// mapSlack is the most room to grow a mapping leaves past the end of
// the file (it leaves as much as the file's size, from 1 MiB up).
const mapSlack = 1 << 30

// mapped returns a mapping of the backing file that covers [0, end),
// or nil when there is none (not an *os.File, mmap refused, closed).
// The caller holds the shared lock and end is within the backing size.
func (c *Content) mapped(end int64) []byte {
	if m := c.bm.cur.Load(); m != nil && int64(len(*m)) >= end {
		return *m
	}
	if c.bm.off.Load() {
		return nil
	}
	fd := c.fd.fd.Load()
	if fd < 0 {
		return nil
	}
	c.bm.mu.Lock()
	defer c.bm.mu.Unlock()
	if m := c.bm.cur.Load(); m != nil && int64(len(*m)) >= end {
		return *m
	}
	if c.bm.off.Load() {
		return nil
	}
	const page = 4096
	n := end + min(max(end, 1<<20), mapSlack)
	n = (n + page - 1) &^ (page - 1)
	m, err := unix.Mmap(int(fd), 0, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		c.bm.off.Store(true)
		return nil
	}
	if prev := c.bm.cur.Load(); prev != nil {
		c.bm.old = append(c.bm.old, *prev)
	}
	c.bm.cur.Store(&m)
	return m
}

// copyMapped copies len(p) backing bytes at off out of m. The bytes are
// within the size the caller saw under the lock, so a fault is never a
// crash: the bytes are then read with pread, which reports a file cut
// behind fernetfs's back or a failing device. A fault is not always
// damage: on tmpfs a read fault on a hole allocates a page, which fails
// when the disk is full, while pread reads the hole as zeros.
func (c *Content) copyMapped(p, m []byte, off int64) error {
	if !copyCatchingFault(p, m[off:off+int64(len(p))]) {
		return c.readFull(p, off)
	}
	return nil
}

// copyCatchingFault copies src to dst and reports false if reading src
// faulted.
func copyCatchingFault(dst, src []byte) (ok bool) {
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r) // a bug, not the file: let the fs guard report it
			}
			ok = false
		}
	}()
	copy(dst, src)
	return true
}

// Close releases what the Content holds besides the backing file (its
// mappings and its O_DIRECT descriptor). The caller closes the backing
// file afterwards and uses the Content no more, except that reads still
// work (by pread) until then.
func (c *Content) Close() error {
	c.mu.Lock() // wait for readers copying out of a mapping
	defer c.mu.Unlock()
	c.dropTail()
	c.dio.close()
	c.bm.mu.Lock()
	defer c.bm.mu.Unlock()
	c.bm.off.Store(true)
	var err error
	if m := c.bm.cur.Swap(nil); m != nil {
		c.bm.old = append(c.bm.old, *m)
	}
	for _, m := range c.bm.old {
		if e := unix.Munmap(m); e != nil && err == nil {
			err = fmt.Errorf("%s: unmapping: %w", c.Name(), e)
		}
	}
	c.bm.old = nil
	return err
}
