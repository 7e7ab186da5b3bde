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
// serving many requests cycles often: a 1 MiB READ's 2 MiB buffer, and
// the 512 KiB and 1 MiB ones of large files' first reads, were allocated
// afresh after nearly every cycle, which brought the next cycle closer.
// So each class above keptSmallShift also keeps one buffer that survives
// collections, 3.5 MiB at most. They are let go once no large buffer
// has been asked for in keptIdle, so an idle mount, or one that has
// gone on to small files (a tar extract), does not hold them. A cold
// read of every file of the Go source tree through the mount (11,478
// files) allocated 169 MB instead of 312 MB; in 8 interleaved rounds it
// took 4.2-5.0 s (median 4.5) instead of 4.65-5.6 s (median 5.0), with
// 16% less daemon CPU (that was with two buffers of each small class
// kept too; without them, 6 rounds showed no difference in time, and
// small buffers kept would only add up to 1 MiB of memory that can never
// be returned).
type bufPools struct {
	class [nBufClasses]sync.Pool
	// kept holds one buffer of each large class across collections.
	kept [nBufClasses]atomic.Pointer[[]byte]
	// lastLarge is when a large buffer was last asked for (Unix
	// nanoseconds; a clock step only moves a release).
	lastLarge atomic.Int64
	// releasing is set while a release of the kept buffers is
	// scheduled.
	releasing atomic.Bool
}

// Classes above keptSmallShift are large: one buffer of each is kept
// until keptIdle passes without a request for a large one.
const (
	keptSmallShift = 18 // 256 KiB
	keptIdle       = 2 * time.Second
)

// isLarge reports whether class k keeps a buffer across collections.
func isLarge(k int) bool { return minBufShift+k > keptSmallShift }

// releaseIdle lets the kept buffers go if no large buffer was asked for
// in keptIdle, or checks again when that will be the case.
func (p *bufPools) releaseIdle() {
	idle := time.Duration(time.Now().UnixNano() - p.lastLarge.Load())
	if idle < keptIdle {
		time.AfterFunc(keptIdle-idle, p.releaseIdle)
		return
	}
	for k := range p.kept {
		p.kept[k].Store(nil)
	}
	p.releasing.Store(false)
	// A put between the stores above and this one kept a buffer with
	// no release scheduled.
	for k := range p.kept {
		if p.kept[k].Load() != nil {
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
		if bp := p.kept[k].Swap(nil); bp != nil {
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
	if isLarge(k) && p.kept[k].CompareAndSwap(nil, bp) {
		p.scheduleRelease()
		return
	}
	p.class[k].Put(bp)
}
