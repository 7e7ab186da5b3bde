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
// serving many requests cycles often (the daemon runs at a low GOGC):
// buffers were allocated afresh after nearly every cycle, which brought
// the next cycle closer. So each class also keeps one buffer that
// survives collections, 4 MiB in all at most. Each is let go once its
// class has not been asked for in keptIdle (up to twice that), so an
// idle mount does not hold them, nor one that has gone from large files
// to small ones (a tar extract) its large ones (bench/README.md has the
// measurements).
type bufPools struct {
	class [nBufClasses]sync.Pool
	// kept holds one buffer of each class across collections.
	kept [nBufClasses]atomic.Pointer[[]byte]
	// used is set when a buffer of each class is asked for, and cleared
	// by releaseIdle: a flag rather than the time of the request, as
	// reading the clock is a good part of a small read's bookkeeping.
	used [nBufClasses]atomic.Bool
	// releasing is set while a release of the kept buffers is
	// scheduled.
	releasing atomic.Bool
}

// keptIdle is how long a kept buffer outlasts the last request for one
// of its class, at least (releaseIdle's period: at most twice as long).
const keptIdle = 2 * time.Second

// releaseIdle runs every keptIdle while a buffer is kept: it lets go
// the kept buffers of the classes not asked for since its last run.
func (p *bufPools) releaseIdle() {
	held := false
	for k := range p.kept {
		if p.kept[k].Load() == nil {
			continue
		}
		if p.used[k].Swap(false) {
			held = true
		} else {
			p.kept[k].Store(nil)
		}
	}
	if held {
		time.AfterFunc(keptIdle, p.releaseIdle)
		return
	}
	p.releasing.Store(false)
	// A put between the loads above and this store kept a buffer with
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
	if !p.used[k].Load() {
		p.used[k].Store(true)
	}
	if bp := p.kept[k].Swap(nil); bp != nil {
		*bp = (*bp)[:n]
		return bp
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
	if p.kept[k].CompareAndSwap(nil, bp) {
		p.scheduleRelease()
		return
	}
	p.class[k].Put(bp)
}
