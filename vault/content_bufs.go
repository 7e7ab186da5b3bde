package vault

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer size classes for content I/O: powers of two from minBufClass
// to maxBufClass bytes. A 4 KiB read takes an 8 KiB buffer, a 128 KiB
// read (the kernel's readahead unit) a 256 KiB one, a 1 MiB write (the
// largest FUSE request) a 2 MiB one; anything larger is allocated for
// the one call.
const (
	minBufShift = 13 // 8 KiB
	maxBufShift = 21 // 2 MiB
	nBufClasses = maxBufShift - minBufShift + 1
)

// bufPools are the I/O buffers of every Content of one Vault. They live
// in the Vault, not in each Content, because the mount opens a Content
// per open file: per-file pools would allocate fresh buffers for every
// short-lived file (a tar extract creates thousands) and keep idle ones
// alive per open file. sync.Pool lets the garbage collector drop
// buffers that stay unused.
//
// The garbage collector empties a sync.Pool on every cycle, and a mount
// serving many requests cycles often: the next reads then allocate fresh
// buffers, which brings the next cycle closer. So every class also keeps
// a few buffers that survive collections: two of each class up to
// 256 KiB and one of each larger one. The large ones (3.5 MiB together)
// are let go once no large buffer has been asked for in keptIdle, so an
// idle mount, or one that has gone on to small files, does not hold
// them (nor raise its memory use for a tar extract that follows). A
// cold read of every file of the Go source tree through the mount
// (11,478 files) allocated 169 MB instead of 312 MB; in 8 interleaved
// rounds it took 4.2-5.0 s (median 4.5) instead of 4.65-5.6 s (median
// 5.0), with 16% less daemon CPU.
type bufPools struct {
	class [nBufClasses]sync.Pool
	kept  [nBufClasses][2]atomic.Pointer[[]byte]
	// lastLarge is when a large buffer was last asked for (Unix
	// nanoseconds; a clock step only moves a release).
	lastLarge atomic.Int64
	// releasing is set while a release of the large buffers is
	// scheduled.
	releasing atomic.Bool
}

// keptSmallShift is the largest class of which two buffers are kept;
// of larger classes one is, until keptIdle passes without a request for
// one.
const (
	keptSmallShift = 18 // 256 KiB
	keptIdle       = 2 * time.Second
)

// isLarge reports whether class k's kept buffer is let go when idle.
func isLarge(k int) bool { return minBufShift+k > keptSmallShift }

// keptSlots are class k's slots for buffers kept across collections.
func (p *bufPools) keptSlots(k int) []atomic.Pointer[[]byte] {
	if isLarge(k) {
		return p.kept[k][:1]
	}
	return p.kept[k][:]
}

// releaseIdle lets the large kept buffers go if none was asked for in
// keptIdle, or checks again when that will be the case.
func (p *bufPools) releaseIdle() {
	idle := time.Duration(time.Now().UnixNano() - p.lastLarge.Load())
	if idle < keptIdle {
		time.AfterFunc(keptIdle-idle, p.releaseIdle)
		return
	}
	for k := range p.kept {
		if isLarge(k) {
			p.kept[k][0].Store(nil)
		}
	}
	p.releasing.Store(false)
	// A put between the stores above and this one kept a buffer with
	// no release scheduled.
	for k := range p.kept {
		if isLarge(k) && p.kept[k][0].Load() != nil {
			p.scheduleRelease()
			return
		}
	}
}

// scheduleRelease arranges for releaseIdle to run, once.
func (p *bufPools) scheduleRelease() {
	if p.releasing.CompareAndSwap(false, true) {
		time.AfterFunc(keptIdle, p.releaseIdle)
	}
}

// bufClass is the index of the smallest class holding n bytes, or -1 if
// n is larger than every class.
func bufClass(n int64) int {
	if n <= 1<<minBufShift {
		return 0
	}
	k := bits.Len64(uint64(n-1)) - minBufShift
	if k >= nBufClasses {
		return -1
	}
	return k
}

// get returns a buffer of n bytes (contents undefined); give it back
// with put.
func (p *bufPools) get(n int64) *[]byte {
	k := bufClass(n)
	if k < 0 {
		b := make([]byte, n)
		return &b
	}
	if isLarge(k) {
		p.lastLarge.Store(time.Now().UnixNano())
	}
	slots := p.keptSlots(k)
	for i := range slots {
		if bp := slots[i].Swap(nil); bp != nil {
			*bp = (*bp)[:n]
			return bp
		}
	}
	if v := p.class[k].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<(minBufShift+k))
	return &b
}

// put returns a buffer from get to its class.
func (p *bufPools) put(bp *[]byte) {
	c := int64(cap(*bp))
	k := bufClass(c)
	if k < 0 || c != 1<<(minBufShift+k) {
		return // an oversized one-off
	}
	slots := p.keptSlots(k)
	for i := range slots {
		if slots[i].CompareAndSwap(nil, bp) {
			if isLarge(k) {
				p.scheduleRelease()
			}
			return
		}
	}
	p.class[k].Put(bp)
}
