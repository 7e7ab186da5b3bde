// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fuse

import (
	"syscall"
	"testing"
	"unsafe"
)

// residentTail counts the resident pages of b's mapping past its clean
// prefix.
func residentTail(t *testing.T, p *readBufPool, buf []byte) int {
	t.Helper()
	b := p.byData[&buf[0]]
	vec := make([]byte, (len(b.mem)+pageSize-1)/pageSize)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b.mem[0])), uintptr(len(b.mem)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	skip := int(uintptr(unsafe.Pointer(&buf[0]))-uintptr(unsafe.Pointer(&b.mem[0]))+cleanPrefix+uintptr(pageSize)-1) / pageSize
	n := 0
	for _, v := range vec[skip:] {
		n += int(v & 1)
	}
	return n
}

func TestReadBufPoolReleasesIdleTails(t *testing.T) {
	const size = 1 << 20
	p := newReadBufPool(size, size+logicalBlockSize)
	var bufs [][]byte
	for i := 0; i < 4; i++ {
		b := p.get()
		if len(b) != size {
			t.Fatalf("buffer of %d bytes, want %d", len(b), size)
		}
		if got := residentTail(t, p, b); got != 0 {
			t.Fatalf("a new buffer has %d resident pages in its tail", got)
		}
		for j := range b {
			b[j] = 1
		}
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		p.put(b, len(b))
	}
	kept := 0
	for _, b := range bufs {
		if residentTail(t, p, b) > 0 {
			kept++
		}
	}
	if kept != maxDirtyFree {
		t.Errorf("%d free buffers keep a resident tail, want %d", kept, maxDirtyFree)
	}
	// A released tail reads as zeros, and the buffer is reused.
	b := p.get()
	if &b[0] != &bufs[3][0] {
		t.Errorf("get did not return the most recently put buffer")
	}
	small := p.get()
	p.put(small[:100], 100)
	if again := p.get(); &again[0] != &small[0] {
		t.Errorf("a buffer returned after a small request was not reused")
	}
	if bufs[0][size-1] != 0 || bufs[1][size-1] != 0 {
		t.Errorf("the tails of the buffers returned first were not released")
	}
}

// A run of smallRunRelease small requests gives back every resident
// tail: those of the free buffers at once, that of a buffer a reader
// held meanwhile when it comes back. Fewer small requests release
// nothing.
func TestReadBufPoolReleasesTailsAfterSmallRun(t *testing.T) {
	const size = 1 << 20
	p := newReadBufPool(size, size+logicalBlockSize)
	var bufs [][]byte
	for i := 0; i < 3; i++ {
		b := p.get()
		for j := range b {
			b[j] = 1
		}
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		p.put(b, size)
	}
	// bufs[2] is out again, as with a reader waiting in read(2).
	if b := p.get(); &b[0] != &bufs[2][0] {
		t.Fatal("get did not return the most recently put buffer")
	}
	small := func(n int) {
		for i := 0; i < n; i++ {
			b := p.get()
			p.put(b[:100], 100)
		}
	}
	small(smallRunRelease - 1)
	// bufs[0]'s tail went when the third large one came back
	// (maxDirtyFree).
	for i, b := range bufs[1:] {
		if residentTail(t, p, b) == 0 {
			t.Fatalf("buffer %d lost its tail after %d small requests", i+1, smallRunRelease-1)
		}
	}
	small(1)
	for i, b := range bufs[1:2] {
		if got := residentTail(t, p, b); got != 0 {
			t.Errorf("free buffer %d keeps %d resident pages after %d small requests", i+1, got, smallRunRelease)
		}
	}
	if p.dirtyFree != 0 {
		t.Errorf("dirtyFree = %d, want 0", p.dirtyFree)
	}
	if residentTail(t, p, bufs[2]) == 0 {
		t.Fatalf("a buffer still held lost its tail")
	}
	p.put(bufs[2][:100], 100)
	if got := residentTail(t, p, bufs[2]); got != 0 {
		t.Errorf("a held buffer keeps %d resident pages after coming back from a small request", got)
	}
	// A large request starts a new run: its tail is kept.
	b := p.get()
	for j := range b {
		b[j] = 1
	}
	p.put(b, size)
	if residentTail(t, p, b) == 0 {
		t.Errorf("a large request right after the run lost its tail")
	}
	if p.dirtyFree != 1 {
		t.Errorf("dirtyFree = %d, want 1", p.dirtyFree)
	}
}
