// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fuse

import (
	"sync"
	"syscall"
	"unsafe"
)

// readBufPool holds the buffers that requests are read into from
// /dev/fuse. The kernel wants each read(2) to offer room for the
// largest request, a WRITE of MaxWrite bytes, so every buffer is that
// large, but most requests (LOOKUP, CREATE, small WRITEs) fill only
// its first page.
//
// With a sync.Pool the buffers were Go heap objects: each garbage
// collection could drop idle ones, the next was allocated and zeroed
// by the runtime, touching all its pages, and the freed spans stayed
// resident until the scavenger returned them. A file server that
// collects often therefore carried several fully resident MaxWrite
// buffers for requests of a few hundred bytes.
//
// Here the buffers are anonymous mappings that are never freed and
// never zeroed: a page becomes resident only when the kernel writes a
// request into it. Buffers are reused most recently returned first, so
// a stream of large WRITEs keeps reusing the same few buffers. Of the
// free buffers whose tail a large request made resident, at most
// maxDirtyFree keep it: returning another gives back to the kernel
// (MADV_DONTNEED) the tail of the one that would be reused last, so
// resident memory follows the number of large requests in flight, not
// the peak.
//
// Once smallRunRelease requests in a row have fitted in the clean
// prefix, the large requests are over for now: every resident tail is
// given back, those of the free buffers at once and those of the
// buffers that readers hold (waiting in read(2) for the next request)
// as they come back, so a stream of small requests after a large write
// carries none of them.
type readBufPool struct {
	mu sync.Mutex
	// size is the length of the slices handed out; bytes is the
	// length of each mapping (size plus the alignment slack).
	size, bytes int
	free        []*readBuf
	// byData finds the readBuf of a slice handed out, by the address
	// of its first byte.
	byData map[*byte]*readBuf
	// dirtyFree counts the free buffers whose tail is resident.
	dirtyFree int
	// smallRun counts the requests since the last one that used more
	// than the clean prefix (up to smallRunRelease).
	smallRun int
}

type readBuf struct {
	mem   []byte // the whole mapping
	data  []byte // the aligned slice handed out
	dirty bool   // bytes past cleanPrefix may be resident
}

const (
	// cleanPrefix is the part of a buffer that is never given back:
	// every request uses it, and most fit in it.
	cleanPrefix = 64 << 10
	// maxDirtyFree is how many free buffers keep a resident tail,
	// ready for the next large WRITE without page faults.
	maxDirtyFree = 2
	// smallRunRelease is how many small requests in a row end a
	// stream of large ones: enough that the small requests between
	// the WRITEs of one stream or of one file after another (LOOKUP,
	// CREATE, FLUSH, SETATTR) release nothing, and that where large
	// WRITEs do come after such runs, faulting a released tail in
	// again (about 250 µs a MiB) costs little beside the run itself.
	smallRunRelease = 256
)

func newReadBufPool(size, bytes int) *readBufPool {
	return &readBufPool{size: size, bytes: bytes, byData: make(map[*byte]*readBuf)}
}

// get returns a buffer of p.size bytes aligned like the sync.Pool
// buffers were (see alignSlice). It returns nil if a new buffer cannot
// be mapped.
func (p *readBufPool) get() []byte {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		if b.dirty {
			p.dirtyFree--
		}
		p.mu.Unlock()
		return b.data
	}
	p.mu.Unlock()
	mem, err := syscall.Mmap(-1, 0, p.bytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	b := &readBuf{mem: mem}
	b.data = alignSlice(mem, unsafe.Sizeof(WriteIn{}), logicalBlockSize, uintptr(p.size))
	p.mu.Lock()
	p.byData[&b.data[0]] = b
	p.mu.Unlock()
	return b.data
}

// put returns a buffer that get handed out; used is how many bytes of
// it the request filled.
func (p *readBufPool) put(buf []byte, used int) {
	buf = buf[:cap(buf)]
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.byData[&buf[0]]
	if b == nil {
		return
	}
	if used > cleanPrefix {
		b.dirty = true
		p.smallRun = 0
	} else if p.smallRun < smallRunRelease {
		p.smallRun++
		if p.smallRun == smallRunRelease {
			p.releaseFree()
		}
	}
	if b.dirty && p.smallRun == smallRunRelease {
		b.release()
	}
	if b.dirty && p.dirtyFree >= maxDirtyFree {
		// b is reused next; release the tail that would be
		// reused last.
		for _, old := range p.free {
			if old.dirty {
				old.release()
				if !old.dirty {
					p.dirtyFree--
				}
				break
			}
		}
	}
	if b.dirty {
		p.dirtyFree++
	}
	p.free = append(p.free, b)
}

// releaseFree releases the resident tails of the free buffers.
func (p *readBufPool) releaseFree() {
	for _, b := range p.free {
		if b.dirty {
			b.release()
			if !b.dirty {
				p.dirtyFree--
			}
		}
	}
}

// release gives the pages of b past cleanPrefix back to the kernel;
// they read as zeros and cost nothing until written again.
func (b *readBuf) release() {
	start := uintptr(unsafe.Pointer(&b.data[0])) - uintptr(unsafe.Pointer(&b.mem[0])) + cleanPrefix
	start = (start + uintptr(pageSize) - 1) &^ uintptr(pageSize-1)
	if start < uintptr(len(b.mem)) && syscall.Madvise(b.mem[start:], syscall.MADV_DONTNEED) != nil {
		return
	}
	b.dirty = false
}
