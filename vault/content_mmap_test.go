package vault

import (
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
