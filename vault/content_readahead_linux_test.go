package vault

import (
	"bytes"
	"math/rand/v2"
	"os"
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

// TestContentJournaledColdRewrite rewrites whole chunks in the middle of
// a file with the undo journal on, after its backing pages were
// dropped: the old line is read for the journal (readOld), which on
// the miss must request the cold window around it, and the journal
// record must hold exactly the line that was there before (it is read
// straight into the record). Then the same on cached pages.
func TestContentJournaledColdRewrite(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	v.StartJournal()
	t.Cleanup(func() { v.StopJournal() })
	c, f := newFileContent(t, v)
	r := rand.New(rand.NewPCG(17, 17))
	C := c.lay.chunk
	want := randBytes(r, int(600*C)+77)
	mustWrite(t, c, want, 0)
	chunks := int64(len(want)) / C
	for round, cold := range []bool{true, false, true} {
		if cold {
			dropCached(t, f)
		}
		i := 1 + r.Int64N(chunks-2)
		at := c.lay.lineOff(i)
		before := make([]byte, c.lay.line)
		if _, err := f.ReadAt(before, at); err != nil {
			t.Fatal(err)
		}
		if cold {
			// The pread above brought only the line's pages back.
			unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
		p := randBytes(r, int(C))
		mustWrite(t, c, p, i*C)
		copy(want[i*C:], p)
		recs := journalRecords(t, v)
		found := false
		for _, rec := range recs {
			if rec.Offset == at {
				found = bytes.Equal(rec.Old, before)
			}
		}
		if !found {
			t.Fatalf("round %d: no journal record with the old line at %d", round, at)
		}
		if cold {
			lo := at &^ (coldWindow - 1)
			var cs unix.Cachestat_t
			rng := unix.CachestatRange{Off: uint64(lo), Len: coldWindow}
			if err := unix.Cachestat(uint(f.Fd()), &rng, &cs, 0); err != nil {
				t.Logf("cachestat: %v; window not checked", err)
			} else {
				// WILLNEED is asynchronous: poll for the window.
				for k := 0; k < 200 && cs.Cache < coldWindow/4096; k++ {
					time.Sleep(10 * time.Millisecond)
					unix.Cachestat(uint(f.Fd()), &rng, &cs, 0)
				}
				if cs.Cache < coldWindow/4096 {
					t.Errorf("round %d: %d of %d pages of the window around a cold rewrite cached", round, cs.Cache, coldWindow/4096)
				}
			}
		}
		if got := readAll(t, c); !bytes.Equal(got, want) {
			t.Fatalf("round %d: content differs after the rewrite", round)
		}
	}
}

// journalRecords parses v's live journal file.
func journalRecords(t *testing.T, v *Vault) []JournalRecord {
	t.Helper()
	b, err := os.ReadFile(v.JournalPath())
	if err != nil {
		t.Fatal(err)
	}
	return parseJournal(b, journalSlotSize(v.ChunkSize()))
}
