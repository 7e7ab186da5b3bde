package vault

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// TestContentReadColdWindow reads random chunks of a file whose pages
// were dropped from the page cache, with mapping turned off (as for a
// backing that cannot be mapped), so readBacking takes its miss path
// (RWF_NOWAIT fails, the window is requested, then read), and again when
// they are cached; the plaintext must be the same either way.
func TestContentReadColdWindow(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	c.bm.off.Store(true) // no mapping: the pread fallback is what is tested
	data := randBytes(rand.New(rand.NewPCG(9, 9)), 300<<10+123)
	mustWrite(t, c, data, 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(10, 10))
	for pass := range 2 {
		if pass == 0 {
			// Written back by Sync, so the pages can be dropped.
			if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
				t.Fatal(err)
			}
		}
		for range 50 {
			off := r.Int64N(int64(len(data)))
			n := min(int64(1+r.IntN(9000)), int64(len(data))-off)
			buf := make([]byte, n)
			if got, err := c.ReadAt(buf, off); int64(got) != n || (err != nil && off+n != int64(len(data))) {
				t.Fatalf("pass %d: ReadAt(%d bytes at %d) = %d, %v", pass, n, off, got, err)
			}
			if !bytes.Equal(buf, data[off:off+n]) {
				t.Fatalf("pass %d: wrong bytes at %d", pass, off)
			}
		}
	}
	if c.fd.fd.Load() < 0 {
		t.Log("RWF_NOWAIT unsupported here; only the fallback was tested")
	}
}

// TestContentWriteColdWindow overwrites random ranges of a file whose
// pages were dropped, so prefetchForWrite sees them missing and requests
// the window before the write; the result must equal the same writes on
// a plain byte slice.
func TestContentWriteColdWindow(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	r := rand.New(rand.NewPCG(11, 11))
	want := randBytes(r, 300<<10+77)
	mustWrite(t, c, want, 0)
	for round := range 3 {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Fatal(err)
		}
		for range 40 {
			want = randomOverwrite(t, c, want, r)
		}
		if got := readAll(t, c); !bytes.Equal(got, want) {
			t.Fatalf("round %d: content differs after cold writes", round)
		}
	}
}
