package vault

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
)

// tailBacking is a memBacking that counts reads, records the journal's
// newest record before each write, and can fail one write after a
// number of bytes (as a full disk does).
type tailBacking struct {
	memBacking
	reads    int
	failNext int // > 0: the next write stores failNext-1 bytes and fails
}

func (tb *tailBacking) ReadAt(p []byte, off int64) (int, error) {
	tb.reads++
	return tb.memBacking.ReadAt(p, off)
}

func (tb *tailBacking) WriteAt(p []byte, off int64) (int, error) {
	if tb.failNext > 0 {
		n := min(tb.failNext-1, len(p))
		tb.failNext = 0
		tb.memBacking.WriteAt(p[:n], off)
		return n, syscall.ENOSPC
	}
	return tb.memBacking.WriteAt(p, off)
}

// newestRecord returns the journal's newest record.
func newestRecord(t *testing.T, v *Vault) (JournalRecord, bool) {
	t.Helper()
	jb, err := os.ReadFile(v.JournalPath())
	if err != nil {
		return JournalRecord{}, false
	}
	var best JournalRecord
	ok := false
	for _, r := range parseJournal(jb, journalSlotSize(v.ChunkSize())) {
		if !ok || r.Seq > best.Seq {
			best, ok = r, true
		}
	}
	return best, ok
}

// TestTailCacheAppends appends pieces of boundary sizes to one Content,
// as tar does, and checks after each that the file reads back and
// verifies, that an append to a non-empty file read nothing back (the
// old last chunk came from the tail cache), and that the undo record
// of the in-place rewrite holds exactly the backing bytes that were
// there before.
func TestTailCacheAppends(t *testing.T) {
	const C = 4096
	v := fixedVault(C)
	v.dir = t.TempDir()
	v.StartJournal()
	t.Cleanup(func() { v.StopJournal() })
	r := rand.New(rand.NewPCG(15, 15))
	sizes := []int{1, 15, 16, 17, 4095, 1, 4096, 4097, 4080, 16, 10240, 10240, 4095, 2, 8192, 3, 10240}
	for _, first := range []int{597, 4096, 4095, 10240} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			tb := &tailBacking{}
			c := v.OpenContent(tb, "f")
			want := randBytes(r, first)
			mustWrite(t, c, want, 0)
			for k, n := range sizes {
				p := randBytes(r, n)
				before := bytes.Clone(tb.data)
				tb.reads = 0
				mustWrite(t, c, p, int64(len(want)))
				want = append(want, p...)
				if tb.reads != 0 {
					t.Errorf("append %d (%d bytes at %d): %d backing reads, want 0 (tail cache)", k, n, len(want)-n, tb.reads)
				}
				rec, ok := newestRecord(t, v)
				if !ok {
					t.Fatalf("append %d: no undo record", k)
				}
				if end := rec.Offset + int64(len(rec.Old)); end > int64(len(before)) || !bytes.Equal(rec.Old, before[rec.Offset:end]) {
					t.Fatalf("append %d: undo record [%d, %d) does not hold the old backing bytes", k, rec.Offset, end)
				}
				if err := c.Check(nil); err != nil {
					t.Fatalf("append %d: %v", k, err)
				}
				if got := readAll(t, c); !bytes.Equal(got, want) {
					t.Fatalf("append %d: content differs (%d bytes, want %d)", k, len(got), len(want))
				}
				// A fresh Content (no cache) reads the same.
				if got := readAll(t, v.OpenContent(&memBacking{data: bytes.Clone(tb.data)}, "g")); !bytes.Equal(got, want) {
					t.Fatalf("append %d: content differs through a new Content", k)
				}
			}
		})
	}
}

// TestTailCacheMisses: the cache is not used after a failed write, a
// truncation, or an overwrite that only a read-modify-write of the
// last chunk can do; the content stays right throughout.
func TestTailCacheMisses(t *testing.T) {
	const C = 4096
	v := fixedVault(C)
	v.dir = t.TempDir()
	v.StartJournal()
	t.Cleanup(func() { v.StopJournal() })
	r := rand.New(rand.NewPCG(16, 16))
	tb := &tailBacking{}
	c := v.OpenContent(tb, "f")
	want := randBytes(r, 5000)
	mustWrite(t, c, want, 0)
	check := func(what string, wantReads bool) {
		t.Helper()
		if wantReads != (tb.reads > 0) {
			t.Fatalf("%s: %d backing reads", what, tb.reads)
		}
		if got := readAll(t, c); !bytes.Equal(got, want) {
			t.Fatalf("%s: content differs (%d bytes, want %d)", what, len(got), len(want))
		}
	}

	// A write that fails part way through its growth is undone; the
	// next append reads the old last chunk from the file.
	tb.failNext = 100
	if _, err := c.WriteAt(randBytes(r, 3000), int64(len(want))); err == nil {
		t.Fatal("the failing write succeeded")
	}
	tb.reads = 0
	p := randBytes(r, 3000)
	mustWrite(t, c, p, int64(len(want)))
	want = append(want, p...)
	check("append after a failed write", true)

	// The cache is back: the next append reads nothing.
	tb.reads = 0
	p = randBytes(r, 100)
	mustWrite(t, c, p, int64(len(want)))
	want = append(want, p...)
	check("append after an append", false)

	// Shrinking makes a new last chunk from the file's lines; the
	// append after it uses what the truncate wrote.
	if err := c.Truncate(5000); err != nil {
		t.Fatal(err)
	}
	want = want[:5000]
	tb.reads = 0
	p = randBytes(r, 7)
	mustWrite(t, c, p, int64(len(want)))
	want = append(want, p...)
	check("append after a shrink", false)

	// Truncating to zero drops the file key: a new file.
	if err := c.Truncate(0); err != nil {
		t.Fatal(err)
	}
	want = randBytes(r, 10)
	mustWrite(t, c, want, 0)
	tb.reads = 0
	p = randBytes(r, 4090)
	mustWrite(t, c, p, int64(len(want)))
	want = append(want, p...)
	check("append after truncating to zero", false)

	// An overwrite inside the last chunk, then an append.
	mustWrite(t, c, []byte("xyz"), 20)
	copy(want[20:], "xyz")
	tb.reads = 0
	p = randBytes(r, 5)
	mustWrite(t, c, p, int64(len(want)))
	want = append(want, p...)
	check("append after an overwrite of the last chunk", false)
}
