package vault

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Shared storage: several fernetfs mounts (other machines, on NFS,
// GlusterFS or CephFS; or two mounts of one local BACKING) may change
// one backing file at the same time. In-process locks cannot see each
// other, so every content operation also takes open-file-description
// locks (F_OFD_SETLKW) on the backing file:
//
//   - the tail lock, one byte at tailLockOff far past any data, stands
//     for the file's size, header line and last chunk: operations that
//     only need them stable take it shared, operations that change them
//     (a write that grows the file or touches its last chunk, truncate,
//     allocate, append) take it exclusive;
//   - line locks cover the backing lines of the chunks an operation
//     reads (shared) or rewrites in place (exclusive), so writers to
//     disjoint chunks proceed in parallel and never lose each other's
//     read-modify-write of a line, and readers never see a torn line.
//
// Lock order is always tail, then lines, and the tail is never upgraded
// in place (it is released and taken again exclusive), so two mounts
// cannot deadlock. An OFD lock belongs to the open file description,
// which all goroutines of one mount share for one file, so within a
// mount shared-storage operations on one file are serialised by a mutex
// (a second holder's unlock would otherwise drop the first's lock).
// Every cached size and file key is dropped at the start of each
// operation: another machine may have changed them.

// tailLockOff is where the tail lock lies: beyond any backing file.
const tailLockOff = 1 << 62

// sharedState is a Content's shared-storage machinery; the zero value
// is off.
type sharedState struct {
	on bool
	fd int // the backing file's descriptor, for fcntl; -1 if none
	// dropCache is set when the backing file is on a FUSE filesystem
	// (GlusterFS, CephFS's ceph-fuse, ...): its page cache is this
	// machine's alone and nothing invalidates it when another machine
	// writes, so locked ranges are dropped from it before they are read.
	// (NFS invalidates on lock, local filesystems share one cache.)
	dropCache bool
	mu        sync.Mutex
}

// SetSharedStorage makes every Content opened afterwards lock its
// backing file against other mounts and re-read what they may change
// (see content_lock.go), and directory lookups wait for the IV of a
// directory another mount is creating.
func (v *Vault) SetSharedStorage(on bool) { v.shared = on }

// SharedStorage reports whether SetSharedStorage turned it on.
func (v *Vault) SharedStorage() bool { return v.shared }

// initShared is called by OpenContent.
func (c *Content) initShared(v *Vault, b Backing) {
	c.sh.fd = -1
	if !v.shared {
		return
	}
	c.sh.on = true
	// A mapping could fault when another machine cuts the file, and
	// saves nothing when every read re-checks the size.
	c.bm.off.Store(true)
	if f, ok := b.(*os.File); ok {
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { c.sh.fd = int(fd) })
		}
	}
	c.sh.dropCache = c.sh.fd >= 0 && onFUSE(c.sh.fd)
}

// unlockShared releases every lock the operation took.
func (c *Content) unlockShared() {
	c.ofd(unix.F_UNLCK, 0, 0)
	c.sh.mu.Unlock()
}

// lockShared starts a shared-storage operation: the mutex, the tail
// lock of type tail, and optionally line locks of type lines on
// [lo, hi). Caches are dropped. It returns the function ending the
// operation; without shared storage it does nothing.
func (c *Content) lockShared(tail, lines int16, lo, hi int64) (func(), error) {
	if !c.sh.on {
		return func() {}, nil
	}
	c.sh.mu.Lock()
	err := c.ofd(tail, tailLockOff, 1)
	if err == nil && hi > lo {
		err = c.ofd(lines, lo, hi-lo)
	}
	if err != nil {
		c.unlockShared()
		return nil, err
	}
	c.bsize.Store(-1)
	c.fk.Store(nil)
	if c.sh.dropCache {
		c.dropPages(lo, hi)
	}
	return c.unlockShared, nil
}

// lineRange is the backing range of the lines of chunks covering
// plaintext [off, end), with the header line when chunk 0 is among them.
func (c *Content) lineRange(off, end int64) (lo, hi int64) {
	first, last := off/c.lay.chunk, (max(end, off+1)-1)/c.lay.chunk
	lo = c.lay.lineOff(first)
	if first == 0 {
		lo = 0
	}
	return lo, c.lay.lineOff(last + 1)
}

// lockRead locks for reading plaintext [off, off+n).
func (c *Content) lockRead(off int64, n int) (func(), error) {
	lo, hi := c.lineRange(off, off+int64(n))
	return c.lockShared(unix.F_RDLCK, unix.F_RDLCK, lo, hi)
}

// lockScan locks for an operation that may read the whole file.
func (c *Content) lockScan() (func(), error) {
	return c.lockShared(unix.F_RDLCK, unix.F_RDLCK, 0, tailLockOff)
}

// lockResize locks for an operation that changes the size.
func (c *Content) lockResize() (func(), error) {
	return c.lockShared(unix.F_WRLCK, 0, 0, 0)
}

// lockWrite locks for writing plaintext [off, end): line locks when the
// write stays inside the file and off its last chunk, else the tail
// exclusively. A write that would not have been interior at the size
// the previous operation saw (appending to a file being written, the
// first write of a new one) takes the tail exclusively at once: that
// lock covers any write, and trying line locks first costs three more
// lock round trips and a stat on a network filesystem.
func (c *Content) lockWrite(off, end int64) (func(), error) {
	if !c.sh.on {
		return func() {}, nil
	}
	// Between operations bsize holds the size the last one saw (it is
	// dropped only when the next one takes its locks): a hint here.
	if bs := c.bsize.Load(); bs >= 0 && !c.interiorAt(bs, end) {
		return c.lockResize()
	}
	lo, hi := c.lineRange(off, end)
	unlock, err := c.lockShared(unix.F_RDLCK, unix.F_WRLCK, lo, hi)
	if err != nil {
		return nil, err
	}
	if c.interior(off, end) {
		return unlock, nil
	}
	unlock()
	return c.lockResize()
}

// interior reports, under the shared tail lock, whether a write of
// [off, end) leaves the size, the header and the last chunk alone.
func (c *Content) interior(off, end int64) bool {
	bs, err := c.statSize()
	if err != nil || !c.interiorAt(bs, end) {
		return false
	}
	c.bsize.Store(bs)
	return true
}

// interiorAt reports whether a write ending at end leaves the size, the
// header and the last chunk of a file of backing size bs alone.
func (c *Content) interiorAt(bs, end int64) bool {
	size, err := c.lay.plainSize(bs)
	if err != nil || size == 0 || end > size {
		return false
	}
	last, _ := c.lay.lastChunk(size)
	return (end-1)/c.lay.chunk < last
}

// Append writes p at the end of the file as it is on the backing store,
// not as this mount last saw it, and returns where it went: O_APPEND
// on shared storage, where another machine may have appended since.
func (c *Content) Append(p []byte) (int64, error) {
	unlock, err := c.lockResize()
	if err != nil {
		return 0, err
	}
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, size, err := c.sizeLocked()
	if err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return size, nil
	}
	end := size + int64(len(p))
	if end > c.lay.maxPlain {
		return 0, fmt.Errorf("%s: append to %d: %w", c.Name(), end, syscall.EFBIG)
	}
	// An append replaces no whole chunk before it fails: nothing of p
	// is in the file then.
	if _, err := c.modify(s, size, end, p, size); err != nil {
		return 0, err
	}
	return size, nil
}

// LockedSize is the plaintext size of the backing file open as fd,
// read under a shared tail lock so that no other mount's change is
// half done: on shared storage a stat between the steps of another
// machine's write can show a size no file has.
func (v *Vault) LockedSize(f *os.File) (int64, error) {
	c := v.OpenContent(f, f.Name())
	defer c.Close()
	return c.Size()
}
