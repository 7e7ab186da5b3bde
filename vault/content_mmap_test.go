package vault

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestContentMappedReads interleaves random reads (served from the
// mapping) with overwrites, appends that outgrow the mapping, and a
// shrink: every read must see the latest writes, and after Close reads
// still work by pread.
func TestContentMappedReads(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, _ := newFileContent(t, v)
	r := rand.New(rand.NewPCG(21, 21))
	want := randBytes(r, 200<<10+5)
	mustWrite(t, c, want, 0)
	randomReads(t, c, want, r, 100)
	m := c.bm.cur.Load()
	if m == nil {
		t.Skip("the backing file could not be mapped here; only pread was tested")
	}
	first := len(*m)

	for range 20 { // overwrites within the mapping
		want = randomOverwrite(t, c, want, r)
		randomReads(t, c, want, r, 5)
	}
	// Appends well past the first mapping force larger ones.
	for len(want) < 3*first {
		p := randBytes(r, 256<<10)
		mustWrite(t, c, p, int64(len(want)))
		want = append(want, p...)
		randomReads(t, c, want, r, 10)
	}
	if got := len(*c.bm.cur.Load()); got <= first {
		t.Errorf("mapping is %d bytes after growing the file to %d, first one was %d", got, len(want), first)
	}
	if len(c.bm.old) == 0 {
		t.Error("no superseded mapping kept after growing")
	}
	if err := c.Truncate(int64(len(want) / 3)); err != nil {
		t.Fatal(err)
	}
	want = want[:len(want)/3]
	randomReads(t, c, want, r, 50)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.bm.cur.Load() != nil || c.bm.old != nil {
		t.Error("Close left mappings behind")
	}
	randomReads(t, c, want, r, 50)
	if c.bm.cur.Load() != nil {
		t.Error("a read after Close mapped the file again")
	}
}

// TestContentMappedReadCutBehindBack cuts the backing file behind the
// Content's back while its size is cached: a read from the mapping then
// touches pages past the end of the file. That must be a corruption
// error for the read, not a SIGBUS that kills the process.
func TestContentMappedReadCutBehindBack(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	r := rand.New(rand.NewPCG(22, 22))
	want := randBytes(r, 512<<10)
	mustWrite(t, c, want, 0)
	randomReads(t, c, want, r, 20)
	if c.bm.cur.Load() == nil {
		t.Skip("the backing file could not be mapped here")
	}
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_, err := c.ReadAt(buf, 300<<10)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAt past a backing file cut behind the Content's back: %v, want ErrCorrupt", err)
	}
	t.Log(err)
}

// TestContentMappedReadCold drops the backing pages and reads random
// ranges: page faults on the mapping bring the data in.
func TestContentMappedReadCold(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	r := rand.New(rand.NewPCG(23, 23))
	want := randBytes(r, 700<<10+3)
	mustWrite(t, c, want, 0)
	dropCached(t, f)
	randomReads(t, c, want, r, 100)
}

// TestContentMappedLargeReads reads a cold file in large pieces, which
// are decrypted straight out of the mapping (spread over goroutines),
// interleaved with overwrites that the next read must see; then cuts the
// backing file behind the Content's back: a large read over the cut is a
// corruption error in whichever goroutine faults, not a crash.
func TestContentMappedLargeReads(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	r := rand.New(rand.NewPCG(24, 24))
	want := randBytes(r, 3<<20+5)
	mustWrite(t, c, want, 0)
	dropCached(t, f)
	read := func(off, n int64) {
		t.Helper()
		n = min(n, int64(len(want))-off)
		buf := make([]byte, n)
		if got, err := c.ReadAt(buf, off); int64(got) != n || (err != nil && off+n != int64(len(want))) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, got, err)
		}
		if !bytes.Equal(buf, want[off:off+n]) {
			t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", n, off)
		}
	}
	for off := int64(0); off < int64(len(want)); off += 1 << 20 { // sequential, from 0
		read(off, 1<<20)
	}
	if c.bm.cur.Load() == nil {
		t.Skip("the backing file could not be mapped here; only pread was tested")
	}
	for range 20 {
		want = randomOverwrite(t, c, want, r)
		read(r.Int64N(int64(len(want))/2), 256<<10+r.Int64N(1<<20))
	}
	read(0, int64(len(want)))

	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 700 << 10, 2 << 20} {
		_, err := c.ReadAt(make([]byte, 1<<20), off)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("1 MiB read at %d over a backing file cut behind the Content's back: %v, want ErrCorrupt", off, err)
		}
	}
}
