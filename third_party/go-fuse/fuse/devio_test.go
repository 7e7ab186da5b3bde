// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fuse

import (
	"bytes"
	"os"
	"testing"
)

// TestDevIONoAllocs writes and reads a pipe through writeDev and
// readDev, as requests do the FUSE device: the bytes must arrive, and
// neither may allocate.
func TestDevIONoAllocs(t *testing.T) {
	rf, wf, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	defer wf.Close()
	rc, err := rf.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := wf.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r, w := &fuseFD{conn: rc}, &fuseFD{conn: wc}
	var d devIO
	d.init()
	hdr, body, tail := []byte("head"), []byte("-body-"), []byte("tail")
	dest := make([]byte, 64)
	var got []byte
	roundTrip := func() {
		d.iov = [3][]byte{hdr, body, tail}
		d.niov = 3
		if err := w.writeDev(&d); err != nil {
			t.Fatal(err)
		}
		n, err := r.readDev(&d, dest)
		if err != nil {
			t.Fatal(err)
		}
		got = dest[:n]
	}
	roundTrip()
	if want := []byte("head-body-tail"); !bytes.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
	if d.buf != nil || d.iov[0] != nil {
		t.Errorf("devIO keeps the buffers after the call")
	}
	if a := testing.AllocsPerRun(100, roundTrip); a != 0 {
		t.Errorf("%v allocations per write and read, want 0", a)
	}
}
