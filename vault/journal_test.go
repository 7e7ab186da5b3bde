package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tearBacking is a memBacking that records every write with a snapshot
// of the journal taken just before it, so a test can rebuild the state
// a kill -9 in the middle of any write leaves.
type tearBacking struct {
	memBacking
	v   *Vault
	ops []tearOp
}

type tearOp struct {
	off     int64
	b       []byte // nil for a truncate to off
	journal []byte
}

func (tb *tearBacking) WriteAt(p []byte, off int64) (int, error) {
	var jb []byte
	if path := tb.v.JournalPath(); path != "" {
		var err error
		if jb, err = os.ReadFile(path); err != nil {
			panic(err)
		}
	}
	tb.ops = append(tb.ops, tearOp{off: off, b: bytes.Clone(p), journal: jb})
	return tb.memBacking.WriteAt(p, off)
}

func (tb *tearBacking) Truncate(size int64) error {
	tb.ops = append(tb.ops, tearOp{off: size})
	return tb.memBacking.Truncate(size)
}

// journalsOf parses journal bytes as fsck would find them.
func journalsOf(v *Vault, b []byte) *Journals {
	js := &Journals{recs: map[[fileIDLen]byte][]JournalRecord{}}
	for _, r := range parseJournal(b, journalSlotSize(v.ChunkSize())) {
		js.recs[r.FileID] = append(js.recs[r.FileID], r)
	}
	for _, rs := range js.recs {
		// Newest first, as OpenJournals sorts them.
		for i := range rs {
			for k := i + 1; k < len(rs); k++ {
				if rs[k].Seq > rs[i].Seq {
					rs[i], rs[k] = rs[k], rs[i]
				}
			}
		}
	}
	return js
}

// TestJournalRestoresTornWrites changes a file in each way that rewrites
// lines in place, then rebuilds every state a kill can leave (each
// backing write of the change torn after every possible byte, the
// earlier ones done) and repairs it as fsck --repair does: lines put
// back from the journal, then the torn tail cut. The result must read
// without error; a change of the size must give exactly the old or
// the new content, and every chunk of an in-place overwrite its old or
// its new bytes.
func TestJournalRestoresTornWrites(t *testing.T) {
	const C = 64
	v := fixedVault(C)
	v.dir = t.TempDir()
	v.StartJournal()
	t.Cleanup(func() { v.StopJournal() })
	r := rand.New(rand.NewPCG(9, 9))
	type change struct {
		name    string
		size    int64 // initial content (holes from sparse if set)
		sparse  bool
		write   []byte
		off     int64
		newSize int64 // for truncate (write nil)
		step    int64 // tear every step bytes
		// whole: the repair gives exactly the old or the new content
		// (the change rewrites at most the last chunk and the size);
		// otherwise each chunk is old or new.
		whole bool
	}
	cases := []change{
		{name: "append to a partial last chunk", size: 300, write: randBytes(r, 200), off: 300, whole: true},
		{name: "append to a full last chunk", size: 320, write: randBytes(r, 100), off: 320, whole: true},
		{name: "truncate up from a full last chunk", size: 640, newSize: 2000, whole: true},
		{name: "truncate up from a partial last chunk", size: 650, newSize: 2000, whole: true},
		{name: "shrink to a partial last chunk", size: 640, newSize: 300, whole: true},
		{name: "shrink to a full last chunk", size: 650, newSize: 320, whole: true},
		{name: "overwrite middle chunks", size: 900, write: randBytes(r, 6*C), off: 2 * C},
		{name: "overwrite holes", size: 900, sparse: true, write: randBytes(r, 6*C), off: 3 * C},
		{name: "overwrite the last chunk", size: 650, write: randBytes(r, 5), off: 645, whole: true},
		{name: "overwrite and grow", size: 650, write: randBytes(r, 3*C), off: 9 * C},
		{name: "overwrite across journal slots", size: 60000, write: randBytes(r, 59000), off: C, step: 211},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			tb := &tearBacking{v: v}
			c := v.OpenContent(tb, "f")
			old := randBytes(r, int(tc.size))
			if tc.sparse {
				old = make([]byte, tc.size)
				if err := c.Truncate(tc.size - 1); err != nil {
					t.Fatal(err)
				}
				old[tc.size-1] = 'x'
				if _, err := c.WriteAt(old[tc.size-1:], tc.size-1); err != nil {
					t.Fatal(err)
				}
			} else if _, err := c.WriteAt(old, 0); err != nil {
				t.Fatal(err)
			}
			start := bytes.Clone(tb.data)
			tb.ops = nil
			want := bytes.Clone(old)
			if tc.write != nil {
				if _, err := c.WriteAt(tc.write, tc.off); err != nil {
					t.Fatal(err)
				}
				want = append(want, make([]byte, max(0, tc.off+int64(len(tc.write))-tc.size))...)
				copy(want[tc.off:], tc.write)
			} else {
				if err := c.Truncate(tc.newSize); err != nil {
					t.Fatal(err)
				}
				want = append(want[:min(tc.size, tc.newSize)], make([]byte, max(0, tc.newSize-tc.size))...)
			}
			states := 0
			for k, op := range tb.ops {
				if op.b == nil {
					continue // a truncate is atomic
				}
				step := max(tc.step, 1)
				for p := int64(1); p < int64(len(op.b)); p += step {
					state := &memBacking{data: bytes.Clone(start)}
					for _, done := range tb.ops[:k] {
						if done.b == nil {
							state.Truncate(done.off)
						} else {
							state.WriteAt(done.b, done.off)
						}
					}
					state.WriteAt(op.b[:p], op.off)
					checkRepaired(t, v, state, journalsOf(v, op.journal), old, want, tc.whole,
						fmt.Sprintf("write %d of %d torn after %d of %d bytes", k+1, len(tb.ops), p, len(op.b)))
					states++
				}
			}
			if states == 0 {
				t.Fatal("the change made no backing write")
			}
		})
	}
}

// checkRepaired repairs state as fsck --repair does and checks it holds
// old or want (exactly, when whole is set; else chunk by chunk).
func checkRepaired(t *testing.T, v *Vault, state *memBacking, js *Journals, old, want []byte, whole bool, what string) {
	t.Helper()
	c := v.OpenContent(state, "f")
	put, err := c.RestoreTorn(js, true)
	if err != nil {
		t.Fatalf("%s: restore: %v", what, err)
	}
	if c.Check(nil) != nil {
		if _, err := c.RepairTail(); err != nil {
			t.Fatalf("%s: put back %v, then repair: %v", what, put, err)
		}
	}
	if err := c.Check(nil); err != nil {
		t.Fatalf("%s: put back %v, repaired: %v", what, put, err)
	}
	got, err := io.ReadAll(io.NewSectionReader(c, 0, 1<<40))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if bytes.Equal(got, old) || bytes.Equal(got, want) {
		return
	}
	if whole || (len(got) != len(old) && len(got) != len(want)) {
		t.Fatalf("%s: put back %v: %d bytes, neither the old (%d) nor the new (%d) content", what, put, len(got), len(old), len(want))
	}
	C := int64(v.ChunkSize())
	for lo := int64(0); lo < int64(len(got)); lo += C {
		hi := min(lo+C, int64(len(got)))
		g := got[lo:hi]
		if !(hi <= int64(len(old)) && bytes.Equal(g, old[lo:hi])) && !(hi <= int64(len(want)) && bytes.Equal(g, want[lo:hi])) {
			t.Fatalf("%s: put back %v: chunk %d is neither old nor new", what, put, lo/C)
		}
	}
}

// TestJournalNeverOverwritesValidLines: records never change a line
// that verifies, or a hole, even when they hold other (older) valid
// copies of it.
func TestJournalNeverOverwritesValidLines(t *testing.T) {
	const C = 64
	v := fixedVault(C)
	v.dir = t.TempDir()
	v.StartJournal()
	defer v.StopJournal()
	r := rand.New(rand.NewPCG(3, 3))
	mb := &memBacking{}
	c := v.OpenContent(mb, "f")
	if _, err := c.WriteAt(randBytes(r, 10*C), 0); err != nil {
		t.Fatal(err)
	}
	for range 3 { // several records of the same lines
		if _, err := c.WriteAt(randBytes(r, 4*C), 2*C); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Truncate(20 * C); err != nil { // chunks 10..18 holes
		t.Fatal(err)
	}
	jb, err := os.ReadFile(v.JournalPath())
	if err != nil {
		t.Fatal(err)
	}
	js := journalsOf(v, jb)
	if js.Records() == 0 {
		t.Fatal("no records")
	}
	before := bytes.Clone(mb.data)
	put, err := c.RestoreTorn(js, true)
	if err != nil || len(put) > 0 || !bytes.Equal(before, mb.data) {
		t.Fatalf("RestoreTorn of a sound file: put back %v, %v; changed: %v", put, err, !bytes.Equal(before, mb.data))
	}
}

// TestJournalLifecycle: the journal is a reserved name in BACKING, locked
// while it lives (OpenJournals skips it), and gone after StopJournal; a
// leftover one is read and removed.
func TestJournalLifecycle(t *testing.T) {
	v := fixedVault(64)
	v.dir = t.TempDir()
	v.StartJournal()
	if v.JournalPath() != "" {
		t.Fatal("journal file before the first in-place write")
	}
	c := v.OpenContent(&memBacking{}, "f")
	for range 2 { // the second write rewrites the first's line in place
		if _, err := c.WriteAt([]byte("data"), 0); err != nil {
			t.Fatal(err)
		}
	}
	path := v.JournalPath()
	if !IsReservedName(filepath.Base(path)) || filepath.Dir(path) != v.dir {
		t.Fatalf("journal %q", path)
	}
	other := fixedVault(64) // another mount's view of the same BACKING
	other.dir = v.dir
	js, errs := other.OpenJournals(true)
	if len(errs) > 0 || len(js.Paths) != 0 || len(js.Live) != 1 {
		t.Fatalf("live journal: paths %q live %q errs %v", js.Paths, js.Live, errs)
	}
	js.Close()
	// A leftover journal (a killed mount): copy it under another name.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(v.dir, JournalPrefix+"0123456789abcdef")
	if err := os.WriteFile(left, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.StopJournal(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal after StopJournal: %v", err)
	}
	js, errs = other.OpenJournals(true)
	if len(errs) > 0 || len(js.Paths) != 1 || js.Paths[0] != left {
		t.Fatalf("leftover journal: paths %q live %q errs %v", js.Paths, js.Live, errs)
	}
	if err := js.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover journal after Remove: %v", err)
	}
	// Not a regular file, or too large: reported, left alone.
	if err := os.Mkdir(left, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, errs := other.OpenJournals(true); len(errs) != 1 {
		t.Fatalf("directory as journal: %v", errs)
	}
	if err := os.Remove(left); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(left)
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(journalMaxSlots*journalSlotSize(64) + 1)
	big.Close()
	if _, errs := other.OpenJournals(true); len(errs) != 1 || !errors.Is(errs[0], ErrJournal) {
		t.Fatalf("oversized journal: %v", errs)
	}
	if _, err := os.Stat(left); err != nil {
		t.Fatalf("oversized journal was not left alone: %v", err)
	}
}

// FuzzJournalRecord: the record parser accepts exactly what
// encodeJournalRecord writes (or nothing), never panics, and what it
// accepts encodes back to the same bytes.
func FuzzJournalRecord(f *testing.F) {
	rec := make([]byte, journalHeaderLen+10)
	encodeJournalRecord(rec, 7, bytes.Repeat([]byte{1}, fileIDLen), 45, []byte("0123456789"))
	f.Add(rec)
	f.Add(rec[:journalHeaderLen])
	f.Add(append(bytes.Clone(rec), 0, 0, 0))
	f.Add([]byte(journalMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := parseJournalRecord(b)
		if !ok {
			return
		}
		if r.Offset < int64(fileHeaderLen) || len(r.Old) == 0 {
			t.Fatalf("accepted %+v", r)
		}
		out := make([]byte, journalHeaderLen+len(r.Old))
		encodeJournalRecord(out, r.Seq, r.FileID[:], r.Offset, r.Old)
		if !bytes.Equal(out, b[:len(out)]) {
			t.Fatalf("record does not encode back: %x", b)
		}
	})
}
