package vault

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

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
	r := rand.New(rand.NewPCG(10, 10))
	dropCached(t, f)
	randomReads(t, c, data, r, 50) // cold
	randomReads(t, c, data, r, 50) // cached
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
		dropCached(t, f)
		for range 40 {
			want = randomOverwrite(t, c, want, r)
		}
		if got := readAll(t, c); !bytes.Equal(got, want) {
			t.Fatalf("round %d: content differs after cold writes", round)
		}
	}
}

// TestContentWillRead drops a file's backing pages and checks that
// WillRead brings the start of the file back into the page cache (the
// request is asynchronous, so it polls).
func TestContentWillRead(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	mustWrite(t, c, randBytes(rand.New(rand.NewPCG(12, 12)), 64<<10), 0)
	dropCached(t, f)
	fd := int(f.Fd())
	cached := func() uint64 {
		var cs unix.Cachestat_t
		if err := unix.Cachestat(uint(fd), &unix.CachestatRange{Off: 0, Len: 8192}, &cs, 0); err != nil {
			t.Skipf("cachestat: %v", err)
		}
		return cs.Cache
	}
	if n := cached(); n != 0 {
		t.Skipf("%d pages still cached after FADV_DONTNEED; cannot observe WillRead", n)
	}
	c.WillRead()
	for range 1000 {
		if cached() == 2 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the first backing pages are not cached after WillRead")
}

// TestContentPrefetchForWriteEnd checks which writes ask for the cold
// window: an append whose old bytes are cached does not (the new bytes
// past the end of the backing file are never cached beforehand, and the
// kernel never reads them), nor does a write wholly past the end; one
// into pages that were dropped does.
func TestContentPrefetchForWriteEnd(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	mustWrite(t, c, randBytes(rand.New(rand.NewPCG(13, 13)), 10<<10), 0)
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()
	// What appending to the file writes: its last line again, and new
	// lines after it.
	last, _ := c.lay.lastChunk(10 << 10)
	at := c.lay.lineOff(last)
	if c.prefetchForWrite(at, size-at+3000, size) {
		t.Errorf("an append to a cached file asked for the cold window")
	}
	if c.prefetchForWrite(size, 3000, size) {
		t.Errorf("a write past the end asked for the cold window")
	}
	dropCached(t, f)
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Off: 0, Len: uint64(size)}, &cs, 0); err != nil {
		t.Skipf("cachestat: %v", err)
	}
	if cs.Cache != 0 {
		t.Skipf("%d pages still cached after FADV_DONTNEED", cs.Cache)
	}
	if !c.prefetchForWrite(at, size-at+3000, size) {
		t.Errorf("an append to a file whose pages were dropped did not ask for the cold window")
	}
}
