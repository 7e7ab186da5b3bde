package vault

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// cachedPages is how many pages of f's first n bytes are in the page
// cache (the test skips where cachestat is missing).
func cachedPages(t *testing.T, f *os.File, n int64) uint64 {
	t.Helper()
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Off: 0, Len: uint64(n)}, &cs, 0); err != nil {
		t.Skipf("cachestat: %v", err)
	}
	return cs.Cache
}

// TestContentReadDirect reads a file whose backing pages were dropped in
// READ-sized pieces, aligned and not, so readLines reads them with
// O_DIRECT: the plaintext must be the file's, the backing pages must
// stay out of the page cache, a byte written since (a cached, dirty
// page) must be seen, a damaged chunk must fail as corrupt, and after
// Close reads must still work, buffered.
func TestContentReadDirect(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	data := randBytes(rand.New(rand.NewPCG(21, 21)), 3<<20+123)
	mustWrite(t, c, data, 0)
	bsize := c.bsize.Load()
	dropCached(t, f)
	if n := cachedPages(t, f, bsize); n != 0 {
		t.Skipf("%d pages still cached after FADV_DONTNEED; cannot observe direct reads", n)
	}
	p := make([]byte, 1<<20)
	readAt := func(off int64) {
		t.Helper()
		n, err := c.ReadAt(p, off)
		want := data[min(off, int64(len(data))):min(off+int64(len(p)), int64(len(data)))]
		if err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		if !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d): %d bytes differ from the file's %d", off, n, len(want))
		}
	}
	for _, off := range []int64{0, 1 << 20, 777, 2<<20 + 5000} {
		readAt(off)
	}
	if c.dio.fd.Load() == directOff {
		t.Skip("the backing filesystem refuses O_DIRECT here; only the buffered path was tested")
	}
	if n := cachedPages(t, f, bsize); n != 0 {
		t.Errorf("%d backing pages cached after direct reads, want none", n)
	}
	readAt(3 << 20) // the tail: a small read, buffered

	// A write leaves its pages cached (dirty): the next large read of
	// them is buffered and sees it.
	mustWrite(t, c, []byte{^data[1<<20+10]}, 1<<20+10)
	data[1<<20+10] ^= 0xff
	if n, err := c.ReadAt(p, 1<<20); err != nil || !bytes.Equal(p[:n], data[1<<20:2<<20]) {
		t.Fatalf("ReadAt after a write: %d, %v, or the bytes differ", n, err)
	}

	// Damage a chunk in the middle of a cold range.
	bad := c.lay.lineOff(600) + 100
	if _, err := f.WriteAt([]byte{'!'}, bad); err != nil {
		t.Fatal(err)
	}
	dropCached(t, f)
	if _, err := c.ReadAt(p, 2<<20); !isCorrupt(err) {
		t.Fatalf("ReadAt over a damaged chunk: %v, want a corruption error", err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.dio.fd.Load() != directOff {
		t.Fatalf("Close left the O_DIRECT descriptor open")
	}
	if n, err := c.ReadAt(p, 0); err != nil || !bytes.Equal(p[:n], data[:1<<20]) {
		t.Fatalf("ReadAt after Close: %d, %v, or the bytes differ", n, err)
	}
}
