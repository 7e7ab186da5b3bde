package vault

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzRepairTail damages a valid file (chunk size 64) by cutting it and
// changing one byte, then repairs it. Whatever the damage: a repair that
// succeeds leaves a sound file whose plaintext is a prefix of the
// original, keeping at least every chunk whose line was untouched before
// the first damaged byte; a refused repair (ErrNotTorn) changes nothing;
// a second repair changes nothing.
func FuzzRepairTail(f *testing.F) {
	f.Add(uint16(200), uint32(465), uint32(0), byte(0))
	f.Add(uint16(200), uint32(100000), uint32(50), byte('A'))
	f.Add(uint16(200), uint32(100000), uint32(500), byte('\n'))
	f.Add(uint16(64), uint32(229), uint32(0), byte(0))
	f.Add(uint16(1000), uint32(3000), uint32(2500), byte(0))
	f.Add(uint16(5), uint32(40), uint32(0), byte(0))
	f.Add(uint16(128), uint32(100000), uint32(400), byte('x'))
	f.Add(uint16(94), uint32(100000), uint32(60), byte('x'))
	v := fixedVault(64)
	lay := newLayout(64)
	f.Fuzz(func(t *testing.T, n uint16, cut, flip uint32, val byte) {
		if n == 0 {
			return
		}
		plain := randBytes(rand.New(rand.NewPCG(uint64(n), 7)), int(n))
		mb := &memBacking{}
		c := v.OpenContent(mb, "fuzz")
		if _, err := c.WriteAt(plain, 0); err != nil {
			t.Fatal(err)
		}
		orig := mb.bytes()
		data := bytes.Clone(orig)
		// The first damaged backing offset.
		damage := int64(len(data))
		if int64(cut) < int64(len(data)) {
			data, damage = data[:cut], int64(cut)
		}
		if at := int64(flip); at < int64(len(data)) && data[at] != val {
			data[at] = val
			damage = min(damage, at)
		}
		if damage == int64(len(orig)) {
			return // undamaged
		}
		mb = &memBacking{data: bytes.Clone(data)}
		c = v.OpenContent(mb, "fuzz")
		r, err := c.RepairTail()
		lastIdx, _ := lay.lastChunk(int64(n))
		if len(data) == len(orig) && damage < lay.lineOff(lastIdx) && !errors.Is(err, ErrNotTorn) {
			// The final chunk is intact: the damage is in the middle.
			t.Fatalf("damage at %d before the intact last chunk: RepairTail %+v, %v; want ErrNotTorn", damage, r, err)
		}
		if err != nil {
			if !errors.Is(err, ErrNotTorn) {
				t.Fatalf("RepairTail: %v", err)
			}
			if !bytes.Equal(mb.bytes(), data) {
				t.Fatal("a refused repair changed the file")
			}
			return
		}
		if err := c.Check(nil); err != nil {
			t.Fatalf("Check after repair %+v: %v", r, err)
		}
		got := readAll(t, c)
		if !bytes.Equal(got, plain[:len(got)]) || int64(len(got)) != r.Kept {
			t.Fatalf("repaired to %d bytes (reported %d), not a prefix of the original", len(got), r.Kept)
		}
		intact := max(damage-int64(fileHeaderLen), 0) / lay.line
		if damage < int64(fileHeaderLen) {
			intact = 0
		}
		if want := min(intact*lay.chunk, int64(len(plain))); r.Kept < want {
			t.Fatalf("kept %d bytes; the %d chunks before the damage at %d hold %d", r.Kept, intact, damage, want)
		}
		again, err := c.RepairTail()
		if err != nil || again.Changed {
			t.Fatalf("second repair: %+v, %v", again, err)
		}
	})
}

// TestRepairTailInterruptedChange builds the states FORMAT.md says a
// crash can leave while a file grows or shrinks: the old bytes with the
// new ones past the old end (a crash before the old last line was
// replaced), and the new bytes with the old ones past the new end (a
// crash before the cut). Repair gives back the old, resp. new, content.
func TestRepairTailInterruptedChange(t *testing.T) {
	v := fixedVault(64)
	plain := randBytes(rand.New(rand.NewPCG(3, 4)), 64*9+30)
	for _, sizes := range [][2]int{{1, 64}, {20, 200}, {64, 65}, {64, 128}, {100, 64*9 + 30}, {128, 129}, {300, 64 * 9}} {
		small, big := sizes[0], sizes[1]
		mb := &memBacking{}
		c := v.OpenContent(mb, "f")
		mustWrite(t, c, plain[:small], 0)
		smallBytes := mb.bytes()
		mustWrite(t, c, plain[small:big], int64(small))
		bigBytes := mb.bytes()
		if err := c.Truncate(int64(small)); err != nil {
			t.Fatal(err)
		}
		shrunk := mb.bytes()
		for _, tc := range []struct {
			name  string
			state []byte
			want  []byte
		}{
			{"grow", append(bytes.Clone(smallBytes), bigBytes[len(smallBytes):]...), plain[:small]},
			{"shrink", append(bytes.Clone(shrunk), bigBytes[len(shrunk):]...), plain[:small]},
		} {
			mb := &memBacking{data: bytes.Clone(tc.state)}
			c := v.OpenContent(mb, "f")
			r, err := c.RepairTail()
			if err != nil {
				t.Errorf("%d->%d %s: RepairTail: %v", small, big, tc.name, err)
				continue
			}
			if err := c.Check(nil); err != nil {
				t.Errorf("%d->%d %s: Check after repair: %v", small, big, tc.name, err)
			}
			if got := readAll(t, c); !bytes.Equal(got, tc.want) || r.Resealed {
				t.Errorf("%d->%d %s: repaired to %d bytes (resealed %v), want the %d-byte content", small, big, tc.name, len(got), r.Resealed, len(tc.want))
			}
		}
	}
}
