package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzContentRead feeds arbitrary backing bytes to the reader: it must
// never panic, only return data or a corruption error, and agree with
// Check (a file Check passes reads in full).
func FuzzContentRead(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden", "content-c64.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden, uint32(0), uint16(1000))
	f.Add(golden, uint32(70), uint16(200))
	f.Add(golden[:len(golden)-3], uint32(0), uint16(64))
	f.Add(golden[:fileHeaderLen], uint32(0), uint16(1))
	f.Add(append(bytes.Clone(golden), '\n'), uint32(300), uint16(30))
	f.Add([]byte{}, uint32(0), uint16(10))
	f.Add(bytes.Repeat([]byte{0}, 2000), uint32(5), uint16(500))
	f.Add([]byte("fernetfs/v1 00112233445566778899aabbccddeeff\ngAAAA\n"), uint32(0), uint16(8))
	v := fixedVault(64)
	f.Fuzz(func(t *testing.T, data []byte, off uint32, n uint16) {
		c := v.OpenContent(&memBacking{data: bytes.Clone(data)}, "fuzz")
		size, err := c.Size()
		if err != nil {
			if !isCorrupt(err) {
				t.Fatalf("Size: %v", err)
			}
			return
		}
		buf := make([]byte, n)
		at := int64(off) % (size + 100)
		got, err := c.ReadAt(buf, at)
		if err != nil && err != io.EOF && !isCorrupt(err) {
			t.Fatalf("ReadAt: %v", err)
		}
		if got < 0 || got > len(buf) {
			t.Fatalf("ReadAt returned %d", got)
		}
		checkErr := c.Check(nil)
		if checkErr != nil && !isCorrupt(checkErr) {
			t.Fatalf("Check: %v", checkErr)
		}
		if checkErr == nil {
			all := make([]byte, size)
			if k, err := c.ReadAt(all, 0); k != int(size) || (err != nil && err != io.EOF) {
				t.Fatalf("Check passed but full read gave %d, %v", k, err)
			}
		}
		// Repair leaves a sound file, or refuses and changes nothing.
		mb := &memBacking{data: bytes.Clone(data)}
		rc := v.OpenContent(mb, "fuzz")
		r, err := rc.RepairTail()
		switch {
		case err == nil:
			if err := rc.Check(nil); err != nil {
				t.Fatalf("Check after RepairTail %+v: %v", r, err)
			}
			if checkErr == nil && r.Changed {
				t.Fatalf("RepairTail changed a sound file: %+v", r)
			}
		case errors.Is(err, ErrNotTorn):
			if !bytes.Equal(mb.bytes(), data) {
				t.Fatal("a refused repair changed the file")
			}
		default:
			t.Fatalf("RepairTail: %v", err)
		}
	})
}

// FuzzContentOps runs write/truncate/allocate sequences decoded from the
// fuzz input against the in-memory model, checking contents and the raw
// layout at the end.
func FuzzContentOps(f *testing.F) {
	f.Add([]byte{0, 0, 10, 5, 1, 3, 0, 0})
	f.Add([]byte{0, 2, 0, 200, 1, 1, 40, 0, 0, 0, 1, 1, 2, 5, 0, 9})
	f.Add([]byte{1, 9, 0, 0, 0, 0, 0, 70, 1, 0, 0, 0, 0, 4, 4, 4})
	f.Add(bytes.Repeat([]byte{0, 1, 63, 65}, 8))
	v := fixedVault(64)
	f.Fuzz(func(t *testing.T, ops []byte) {
		mb := &memBacking{}
		m := &contentModel{t: t, v: v, c: v.OpenContent(mb, "fuzz")}
		const limit = 16 * 64
		for len(ops) >= 4 {
			kind, a, b := ops[0]%3, int64(binary.BigEndian.Uint16(ops[1:3]))%limit, int64(ops[3])
			ops = ops[4:]
			switch kind {
			case 0:
				p := bytes.Repeat([]byte{byte(a) | 1}, int(b)*3+1)
				m.write(a, p)
			case 1:
				m.truncate(a)
			case 2:
				if err := m.c.Allocate(a, b+1, false); err != nil {
					t.Fatal(err)
				}
				if end := a + b + 1; end > int64(len(m.model)) {
					m.model = append(m.model, make([]byte, end-int64(len(m.model)))...)
				}
			}
		}
		m.check("fuzz ops")
		checkRawLayout(t, v, mb.bytes(), m.model)
		if err := m.c.Check(nil); err != nil {
			t.Fatal(err)
		}
	})
}
