// Copyright 2016 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fuse

import (
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// bufferPool implements explicit memory management. It is used for
// minimizing the GC overhead of communicating with the kernel.
//
// Buffers come in classes of a power of two pages. Each class has a
// sync.Pool, which every garbage collection may empty, and a few kept
// slots whose buffers survive collections: a daemon that collects often
// (a low GOGC) otherwise allocates a fresh reply buffer for most READs,
// and those allocations bring the next collection closer. A class's kept
// buffers are let go once it has not been asked for in keptIdle, so an
// idle server does not hold them. See PATCHES.md.
type bufferPool struct {
	lock sync.Mutex

	// For each page-count class a pool of slice pointers.
	buffersBySize []*sync.Pool

	// Number of outstanding allocations per class. Used for testing.
	countersBySize []int

	// kept holds buffers of each class across collections.
	kept [keptClasses][keptSlots]atomic.Pointer[[]byte]
	// used is set when a buffer of each class is asked for, and cleared
	// by releaseIdle (a flag, not a time: no clock read per request).
	used [keptClasses]atomic.Bool
	// releasing is set while a release of the kept buffers is
	// scheduled.
	releasing atomic.Bool
}

// Buffers of up to 2^(keptClasses-1) pages (1 MiB with 4 KiB pages, the
// largest READ fernetfs asks for) are kept: keptSlots of each class up
// to keptSmallClass (128 KiB), one of each larger class; 2.25 MiB at
// most with 4 KiB pages.
const (
	keptClasses    = 9
	keptSlots      = 2
	keptSmallClass = 5
	keptIdle       = 2 * time.Second
)

// slots is the number of kept slots of class k.
func slots(k int) int {
	if k <= keptSmallClass {
		return keptSlots
	}
	return 1
}

var pageSize = os.Getpagesize()

func (p *bufferPool) counters() []int {
	p.lock.Lock()
	defer p.lock.Unlock()

	d := make([]int, len(p.countersBySize))
	copy(d, p.countersBySize)
	return d
}

func (p *bufferPool) getPool(class int, delta int) *sync.Pool {
	p.lock.Lock()
	defer p.lock.Unlock()
	for len(p.buffersBySize) <= class {
		p.buffersBySize = append(p.buffersBySize, nil)
		p.countersBySize = append(p.countersBySize, 0)
	}
	if p.buffersBySize[class] == nil {
		p.buffersBySize[class] = &sync.Pool{}
	}
	p.countersBySize[class] += delta
	return p.buffersBySize[class]
}

// pageClass is the class of a buffer of the given number of pages: the
// k with 2^(k-1) < pages <= 2^k.
func pageClass(pages int) int {
	return bits.Len(uint(pages - 1))
}

// AllocBuffer creates a buffer of at least the given size. After use,
// it should be deallocated with FreeBuffer().
func (p *bufferPool) AllocBuffer(size uint32) []byte {
	return *p.allocHeld(size)
}

// allocHeld is AllocBuffer, returning the slice pointer that holds the
// buffer in the pool; freeHeld takes it back without allocating a new
// one, as FreeBuffer must for every buffer it keeps.
func (p *bufferPool) allocHeld(size uint32) *[]byte {
	pages := max((int(size)+pageSize-1)/pageSize, 1)
	k := pageClass(pages)
	pool := p.getPool(k, 1)
	if k < keptClasses {
		if !p.used[k].Load() {
			p.used[k].Store(true)
		}
		for i := 0; i < slots(k); i++ {
			if bp := p.kept[k][i].Swap(nil); bp != nil {
				*bp = (*bp)[:size]
				return bp
			}
		}
	}
	if v := pool.Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:size]
		return bp
	}
	b := make([]byte, size, pageSize<<k)
	return &b
}

// FreeBuffer takes back a buffer if it was allocated through
// AllocBuffer.  It is not an error to call FreeBuffer() on a slice
// obtained elsewhere.
func (p *bufferPool) FreeBuffer(slice []byte) {
	if cap(slice) == 0 {
		return
	}
	p.freeHeld(&slice)
}

// freeHeld takes back the buffer held by bp (from allocHeld, or any
// slice pointer FreeBuffer would accept), keeping bp for it.
func (p *bufferPool) freeHeld(bp *[]byte) {
	c := cap(*bp)
	if c == 0 || c%pageSize != 0 {
		return
	}
	pages := c / pageSize
	k := pageClass(pages)
	if pages != 1<<k {
		return // not one of ours
	}
	*bp = (*bp)[:c]
	pool := p.getPool(k, -1)
	if k < keptClasses {
		for i := 0; i < slots(k); i++ {
			if p.kept[k][i].CompareAndSwap(nil, bp) {
				p.scheduleRelease()
				return
			}
		}
	}
	pool.Put(bp)
}

// releaseIdle runs every keptIdle while buffers are kept: it lets go
// the kept buffers of the classes not asked for since its last run, so
// they go between keptIdle and twice that after the last request.
func (p *bufferPool) releaseIdle() {
	again := false
	for k := range p.kept {
		held := false
		for i := range p.kept[k] {
			held = held || p.kept[k][i].Load() != nil
		}
		if !held {
			continue
		}
		if p.used[k].Swap(false) {
			again = true
		} else {
			for i := range p.kept[k] {
				p.kept[k][i].Store(nil)
			}
		}
	}
	if again {
		time.AfterFunc(keptIdle, p.releaseIdle)
		return
	}
	p.releasing.Store(false)
	// A FreeBuffer between the loads above and this store kept a buffer
	// with no release scheduled.
	for k := range p.kept {
		for i := range p.kept[k] {
			if p.kept[k][i].Load() != nil {
				p.scheduleRelease()
				return
			}
		}
	}
}

// scheduleRelease arranges for releaseIdle to run, once.
func (p *bufferPool) scheduleRelease() {
	if p.releasing.CompareAndSwap(false, true) {
		time.AfterFunc(keptIdle, p.releaseIdle)
	}
}
