package vault

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
)

func blocks(t *testing.T, f *os.File) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks // 512-byte units
}

func TestContentSparseHuge(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, f := newFileContent(t, v)
	const size = 10 << 30
	if err := c.Truncate(size); err != nil {
		t.Fatal(err)
	}
	checkSizes(t, c, size)
	if b := blocks(t, f); b > 64 {
		t.Fatalf("10 GiB sparse file uses %d blocks of backing", b)
	}
	buf := make([]byte, 1<<20)
	for _, off := range []int64{0, 5 << 30, size - 1<<20} {
		for i := range buf {
			buf[i] = 0xff
		}
		if n, err := c.ReadAt(buf, off); n != len(buf) || err != nil || !allZero(buf) {
			t.Fatalf("ReadAt(1 MiB at %d) = %d, %v, zeros=%v", off, n, err, allZero(buf))
		}
	}
	at := int64(5<<30 + 7)
	mustWrite(t, c, []byte("in the middle"), at)
	got := make([]byte, 13)
	if _, err := c.ReadAt(got, at); err != nil || string(got) != "in the middle" {
		t.Fatalf("read back %q, %v", got, err)
	}
	checkSizes(t, c, size)
	if b := blocks(t, f); b > 128 {
		t.Fatalf("after a small write the file uses %d blocks", b)
	}

	// Seeking: the hole at the start, data near 5 GiB, data at the end.
	C := int64(DefaultChunkSize)
	if h, err := c.SeekHole(0); err != nil || h != 0 {
		t.Fatalf("SeekHole(0) = %d, %v", h, err)
	}
	// Exact answers here: the hole runs are long, so lseek finds them, and
	// the chunk at each boundary is classified by its first byte.
	if d, err := c.SeekData(0); err != nil || d != 5<<30 {
		t.Fatalf("SeekData(0) = %d, %v; want %d", d, err, int64(5<<30))
	}
	h, err := c.SeekHole(at)
	if err != nil || h != 5<<30+C {
		t.Fatalf("SeekHole(%d) = %d, %v", at, h, err)
	}
	lastStart := (size - 1) / C * C
	if d, err := c.SeekData(h); err != nil || d != lastStart {
		t.Fatalf("SeekData(%d) = %d, %v; want %d", h, d, err, lastStart)
	}
	if h, err := c.SeekHole(size - 1); err != nil || h != size {
		t.Fatalf("SeekHole(size-1) = %d, %v", h, err)
	}
	if _, err := c.SeekData(size); !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("SeekData(size) = %v, want ENXIO", err)
	}
	if _, err := c.SeekHole(size + 5); !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("SeekHole past EOF = %v, want ENXIO", err)
	}
}

// TestContentSeekNeverSkipsData walks a file with a pattern of data and
// hole chunks: SeekData must never jump over a data chunk and SeekHole
// must never land in one.
func TestContentSeekNeverSkipsData(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, _ := newFileContent(t, v)
	C := int64(DefaultChunkSize)
	dataChunks := map[int64]bool{0: true, 1: true, 7: true, 30: true, 31: true, 32: true, 90: true}
	for i := range dataChunks {
		mustWrite(t, c, bytes.Repeat([]byte{1}, int(C)), i*C)
	}
	size := 91 * C
	sawHole := false
	for off := int64(0); off < size; off += C / 2 {
		d, err := c.SeekData(off)
		if err != nil || d < off {
			t.Fatalf("SeekData(%d) = %d, %v", off, d, err)
		}
		for i := off / C; i*C < d; i++ {
			if dataChunks[i] && max(off, i*C) < d {
				t.Fatalf("SeekData(%d) = %d skips data chunk %d", off, d, i)
			}
		}
		h, err := c.SeekHole(off)
		if err != nil || h < off || h > size {
			t.Fatalf("SeekHole(%d) = %d, %v", off, h, err)
		}
		if h < size {
			sawHole = true
			if dataChunks[h/C] || h%C != 0 && h != off {
				t.Fatalf("SeekHole(%d) = %d lands in data chunk %d", off, h, h/C)
			}
		}
	}
	if !sawHole {
		t.Fatal("no hole found in a file with long runs of hole chunks")
	}
}

func TestContentHoles(t *testing.T) {
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	lay := newLayout(64)
	c, f := newFileContent(t, v)
	mustWrite(t, c, []byte("abc"), 10*64+5)
	raw, _ := os.ReadFile(f.Name())
	for i := int64(0); i < 10; i++ {
		if !allZero(raw[lay.lineOff(i):lay.lineOff(i+1)]) {
			t.Fatalf("chunk %d of a fresh sparse write is not a hole", i)
		}
	}
	want := make([]byte, 10*64+8)
	copy(want[10*64+5:], "abc")
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Fatal("sparse file reads wrong")
	}
	// Fill part of a hole chunk.
	mustWrite(t, c, []byte("xy"), 3*64+60)
	copy(want[3*64+60:], "xy")
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Fatal("write into a hole reads wrong")
	}

	// A full last chunk's line is F+15 bytes; growing past it must not
	// leave its trailing newlines at the start of the next (hole) line.
	c2, f2 := newFileContent(t, v)
	full := bytes.Repeat([]byte{'z'}, 64)
	mustWrite(t, c2, full, 0)
	mustWrite(t, c2, []byte("end"), 5*64)
	raw, _ = os.ReadFile(f2.Name())
	if !allZero(raw[lay.lineOff(1):lay.lineOff(2)]) {
		t.Fatalf("line 1 after growing: %q", raw[lay.lineOff(1):lay.lineOff(1)+20])
	}
	if err := c2.Check(nil); err != nil {
		t.Fatal(err)
	}
	// The same through a truncate up.
	c3, f3 := newFileContent(t, v)
	mustWrite(t, c3, full, 0)
	if err := c3.Truncate(4*64 + 9); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(f3.Name())
	checkRawLayout(t, v, raw, append(bytes.Clone(full), make([]byte, 3*64+9)...))
}

func TestContentAllocate(t *testing.T) {
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	c, _ := newFileContent(t, v)
	mustWrite(t, c, []byte("0123456789"), 0)
	if err := c.Allocate(2, 5, false); err != nil {
		t.Fatal(err)
	}
	checkSizes(t, c, 10)
	if err := c.Allocate(8, 300, false); err != nil {
		t.Fatal(err)
	}
	checkSizes(t, c, 308)
	want := append([]byte("0123456789"), make([]byte, 298)...)
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Fatal("allocated range does not read as zeros")
	}
	if err := c.Allocate(0, 1, false); err != nil {
		t.Fatal(err)
	}
	checkSizes(t, c, 308)
}

func TestContentSeekWithoutFile(t *testing.T) {
	v := fixedVault(64)
	c := v.OpenContent(&memBacking{}, "mem")
	if _, err := c.SeekData(0); !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("SeekData on empty file: %v", err)
	}
	if err := c.Truncate(1000); err != nil {
		t.Fatal(err)
	}
	if d, err := c.SeekData(300); err != nil || d != 300 {
		t.Fatalf("SeekData = %d, %v", d, err)
	}
	if h, err := c.SeekHole(300); err != nil || h != 1000 {
		t.Fatalf("SeekHole = %d, %v", h, err)
	}
}
