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
