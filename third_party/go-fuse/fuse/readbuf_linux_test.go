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
