package vault

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// randomReads reads n random ranges of at most 9000 bytes (small, so
// readBacking copies them out of the mapping) and compares them with
// want.
func randomReads(t *testing.T, c *Content, want []byte, r *rand.Rand, n int) {
	t.Helper()
	for range n {
		off := r.Int64N(int64(len(want)))
		k := min(int64(1+r.IntN(9000)), int64(len(want))-off)
		buf := make([]byte, k)
		if got, err := c.ReadAt(buf, off); int64(got) != k || (err != nil && off+k != int64(len(want))) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", k, off, got, err)
		}
		if !bytes.Equal(buf, want[off:off+k]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
}

// randomOverwrite writes up to 9000 random bytes at a random offset of
// c (possibly growing it) and returns want with the same change.
func randomOverwrite(t *testing.T, c *Content, want []byte, r *rand.Rand) []byte {
	t.Helper()
	off := r.Int64N(int64(len(want)))
	p := randBytes(r, 1+r.IntN(9000))
	mustWrite(t, c, p, off)
	if end := off + int64(len(p)); end > int64(len(want)) {
		want = append(want, make([]byte, end-int64(len(want)))...)
	}
	copy(want[off:], p)
	return want
}

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
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	randomReads(t, c, want, r, 100)
}
