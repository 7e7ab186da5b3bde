package vault

import (
	"math/bits"
	"sync"
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
type bufPools struct {
	class [nBufClasses]sync.Pool
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
	p.class[k].Put(bp)
}
