package vault

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

const victim = "/plain/victim.txt"

// memFile writes data through a Content onto an in-memory backing file.
func memFile(t testing.TB, v *Vault, data []byte) *memBacking {
	t.Helper()
	mb := &memBacking{}
	if len(data) > 0 {
		mustWrite(t, v.OpenContent(mb, victim), data, 0)
	}
	return mb
}

// corrupted is a fresh Content (cold cache) over a copy of raw.
func corrupted(v *Vault, raw []byte) *Content {
	return v.OpenContent(&memBacking{data: bytes.Clone(raw)}, victim)
}

// expectChunks reads every chunk of c separately: chunks in bad must fail
// with a corruption error naming the file and the chunk, others must
// return the right data. Check must report exactly the bad chunks.
func expectChunks(t *testing.T, c *Content, data []byte, bad ...int64) {
	t.Helper()
	cs := int(c.lay.chunk)
	isBad := map[int64]bool{}
	for _, b := range bad {
		isBad[b] = true
	}
	for i := int64(0); i*int64(cs) < int64(len(data)); i++ {
		lo := int(i) * cs
		hi := min(lo+cs, len(data))
		buf := make([]byte, hi-lo)
		n, err := c.ReadAt(buf, int64(lo))
		if isBad[i] {
			if !isCorrupt(err) {
				t.Fatalf("chunk %d: got n=%d err=%v, want corruption", i, n, err)
			}
			if msg := err.Error(); !strings.Contains(msg, victim) || !strings.Contains(msg, fmt.Sprintf("chunk %d", i)) {
				t.Fatalf("chunk %d: error %q does not name the file and chunk", i, msg)
			}
			continue
		}
		if (err != nil && err != io.EOF) || n != hi-lo || !bytes.Equal(buf, data[lo:hi]) {
			t.Fatalf("chunk %d (not damaged): n=%d err=%v", i, n, err)
		}
	}
	var reported []int64
	err := c.Check(func(i int64, err error) {
		if !isCorrupt(err) {
			t.Errorf("Check reported chunk %d with %v", i, err)
		}
		reported = append(reported, i)
	})
	if fmt.Sprint(reported) != fmt.Sprint(bad) {
		t.Fatalf("Check reported chunks %v, want %v", reported, bad)
	}
	if (len(bad) > 0) != isCorrupt(err) {
		t.Fatalf("Check() = %v with bad chunks %v", err, bad)
	}
}

// expectBroken asserts that the file as a whole is reported corrupt: the
// size does not decode, or no read of it succeeds.
func expectBroken(t *testing.T, c *Content, what string) {
	t.Helper()
	size, err := c.Size()
	if err != nil {
		if !isCorrupt(err) {
			t.Fatalf("%s: Size error %v is not a corruption error", what, err)
		}
		if _, err := c.ReadAt(make([]byte, 10), 0); !isCorrupt(err) {
			t.Fatalf("%s: read after bad size: %v", what, err)
		}
		return
	}
	_, err = c.ReadAt(make([]byte, size), 0)
	if !isCorrupt(err) {
		t.Fatalf("%s: full read gave %v, want corruption", what, err)
	}
	if err := c.Check(nil); !isCorrupt(err) {
		t.Fatalf("%s: Check gave %v, want corruption", what, err)
	}
}

func TestContentCorruptBitFlips(t *testing.T) {
	v := fixedVault(64)
	data := randBytes(rand.New(rand.NewPCG(3, 3)), 3*64+10)
	raw := memFile(t, v, data).bytes()
	F := int(newLayout(64).line)
	for pos := range raw {
		for bit := range 8 {
			bad := bytes.Clone(raw)
			bad[pos] ^= 1 << bit
			c := corrupted(v, bad)
			if pos < fileHeaderLen {
				expectBroken(t, c, fmt.Sprintf("header byte %d bit %d", pos, bit))
				continue
			}
			chunk := int64(min((pos-fileHeaderLen)/F, 3))
			t.Run(fmt.Sprintf("byte%d/bit%d", pos, bit), func(t *testing.T) {
				expectChunks(t, c, data, chunk)
			})
			if t.Failed() {
				return
			}
		}
	}
}

func TestContentCorruptRearranged(t *testing.T) {
	v := fixedVault(64)
	r := rand.New(rand.NewPCG(4, 4))
	data := randBytes(r, 5*64+20)
	other := randBytes(r, len(data))
	raw := memFile(t, v, data).bytes()
	rawOther := memFile(t, v, other).bytes()
	lay := newLayout(64)
	line := func(b []byte, i int64) []byte { return b[lay.lineOff(i):lay.lineOff(i+1)] }

	t.Run("chunk from another file", func(t *testing.T) {
		bad := bytes.Clone(raw)
		copy(line(bad, 2), line(rawOther, 2))
		expectChunks(t, corrupted(v, bad), data, 2)
	})
	t.Run("other file's header", func(t *testing.T) {
		bad := bytes.Clone(raw)
		copy(bad, rawOther[:fileHeaderLen])
		expectChunks(t, corrupted(v, bad), data, 0, 1, 2, 3, 4, 5)
	})
	t.Run("two chunks swapped", func(t *testing.T) {
		bad := bytes.Clone(raw)
		copy(line(bad, 1), line(raw, 3))
		copy(line(bad, 3), line(raw, 1))
		expectChunks(t, corrupted(v, bad), data, 1, 3)
	})
	t.Run("chunk duplicated", func(t *testing.T) {
		bad := bytes.Clone(raw)
		copy(line(bad, 4), line(raw, 0))
		expectChunks(t, corrupted(v, bad), data, 4)
	})
	t.Run("chunk replaced by a hole", func(t *testing.T) {
		// Documented as not detected (FORMAT.md threat model): reads zeros.
		bad := bytes.Clone(raw)
		clear(line(bad, 2))
		want := bytes.Clone(data)
		clear(want[2*64 : 3*64])
		expectChunks(t, corrupted(v, bad), want)
	})
	t.Run("hole line with a stray byte", func(t *testing.T) {
		bad := bytes.Clone(raw)
		l := line(bad, 2)
		clear(l)
		l[70] = 'x'
		expectChunks(t, corrupted(v, bad), data, 2)
	})
	t.Run("last chunk is a hole", func(t *testing.T) {
		bad := bytes.Clone(raw)
		clear(bad[lay.lineOff(5):])
		expectChunks(t, corrupted(v, bad), data, 5)
	})
	t.Run("read stops before the damage", func(t *testing.T) {
		bad := bytes.Clone(raw)
		line(bad, 3)[10] ^= 4
		buf := make([]byte, len(data))
		n, err := corrupted(v, bad).ReadAt(buf, 10)
		if !isCorrupt(err) || n != 3*64-10 || !bytes.Equal(buf[:n], data[10:3*64]) {
			t.Fatalf("n=%d err=%v, want %d good bytes then corruption", n, err, 3*64-10)
		}
	})
}

func TestContentCorruptCut(t *testing.T) {
	v := fixedVault(64)
	lay := newLayout(64)
	data := randBytes(rand.New(rand.NewPCG(5, 5)), 4*64)
	raw := memFile(t, v, data).bytes()

	t.Run("cut at chunk boundary", func(t *testing.T) {
		expectBroken(t, corrupted(v, raw[:lay.lineOff(2)]), "cut after chunk 1")
	})
	t.Run("cut at chunk boundary with the tail made to fit", func(t *testing.T) {
		// The attacker also fixes the trailing newlines so the size
		// decodes: the final mark is what catches it.
		bad := append(bytes.Clone(raw[:lay.lineOff(2)]), bytes.Repeat([]byte{'\n'}, 15)...)
		c := corrupted(v, bad)
		if size, err := c.Size(); err != nil || size != 2*64 {
			t.Fatalf("Size = %d, %v", size, err)
		}
		expectChunks(t, c, data[:2*64], 1)
	})
	t.Run("token cut short", func(t *testing.T) {
		for cut := 1; cut <= 2*int(lay.line)+20; cut++ {
			expectBroken(t, corrupted(v, raw[:len(raw)-cut]), fmt.Sprintf("cut %d bytes", cut))
		}
	})
	t.Run("bytes appended", func(t *testing.T) {
		for extra := 1; extra <= 2*int(lay.line); extra++ {
			bad := append(bytes.Clone(raw), bytes.Repeat([]byte{'\n'}, extra)...)
			expectBroken(t, corrupted(v, bad), fmt.Sprintf("%d newlines appended", extra))
		}
	})
}

func TestContentCorruptTrailingNewlines(t *testing.T) {
	v := fixedVault(64)
	r := rand.New(rand.NewPCG(6, 6))
	for L := 1; L <= 64; L++ {
		data := randBytes(r, 64+L)
		raw := memFile(t, v, data).bytes()
		expectBroken(t, corrupted(v, append(bytes.Clone(raw), '\n')), fmt.Sprintf("L=%d one newline more", L))
		expectBroken(t, corrupted(v, raw[:len(raw)-1]), fmt.Sprintf("L=%d one newline less", L))
		// Same count, but one of them is not a newline.
		bad := bytes.Clone(raw)
		bad[len(bad)-1] = ' '
		expectBroken(t, corrupted(v, bad), fmt.Sprintf("L=%d space for newline", L))
	}
}

func TestContentCorruptHeader(t *testing.T) {
	v := fixedVault(64)
	data := randBytes(rand.New(rand.NewPCG(7, 7)), 2*64+3)
	mb := memFile(t, v, data)
	raw := mb.bytes()
	hexStart := len(fileMagic)
	edits := map[string]func(b []byte){
		"version":        func(b []byte) { b[10] = '2' },
		"magic":          func(b []byte) { b[0] = 'F' },
		"uppercase hex":  func(b []byte) { b[hexStart] = 'A' },
		"non-hex":        func(b []byte) { b[hexStart+5] = 'g' },
		"other ID":       func(b []byte) { b[hexStart+31] ^= 1 },
		"no newline":     func(b []byte) { b[44] = ' ' },
		"space for dash": func(b []byte) { b[11] = '-' },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(raw)
			edit(bad)
			expectBroken(t, corrupted(v, bad), name)
			// A Content with the old header cached notices too when it
			// reads chunk 0 (which rereads the header line).
			warm := v.OpenContent(&memBacking{data: bytes.Clone(raw)}, victim)
			readAll(t, warm)
			edit(warm.b.(*memBacking).data)
			if _, err := warm.ReadAt(make([]byte, 10), 0); !isCorrupt(err) {
				t.Fatalf("warm cache: %v", err)
			}
		})
	}
}

func TestContentCheckReportsEachChunk(t *testing.T) {
	v := fixedVault(64)
	data := randBytes(rand.New(rand.NewPCG(8, 8)), 6*64+1)
	raw := memFile(t, v, data).bytes()
	lay := newLayout(64)
	bad := bytes.Clone(raw)
	bad[lay.lineOff(1)+50] ^= 1
	bad[lay.lineOff(3)+90] ^= 1
	bad[len(bad)-1] = 'x'
	expectChunks(t, corrupted(v, bad), data, 1, 3, 6)
	expectChunks(t, corrupted(v, raw), data)
}

// Large reads open full chunks straight into the caller's buffer, spread
// over goroutines. Whichever chunk is damaged, a read over it must return
// exactly the good bytes before that chunk and an error naming it, from
// any start offset.
func TestContentCorruptInLargeRead(t *testing.T) {
	v := fixedVault(4096)
	const chunks = 21
	data := randBytes(rand.New(rand.NewPCG(5, 5)), chunks*4096-100)
	raw := memFile(t, v, data).bytes()
	lay := newLayout(4096)
	for _, bad := range []int64{0, 1, 2, 9, 10, chunks - 2, chunks - 1} {
		damaged := bytes.Clone(raw)
		at := lay.lineOff(bad) + 200
		damaged[at] ^= 1
		for _, off := range []int64{0, 100, 4096, 3 * 4096, 3*4096 + 7} {
			c := corrupted(v, damaged)
			buf := make([]byte, len(data)-int(off))
			n, err := c.ReadAt(buf, off)
			if bad*4096+4096 <= off {
				if (err != nil && err != io.EOF) || !bytes.Equal(buf, data[off:]) {
					t.Fatalf("chunk %d damaged, read from %d (after it): n=%d err=%v", bad, off, n, err)
				}
				continue
			}
			want := max(bad*4096-off, 0)
			if !isCorrupt(err) || int64(n) != want || !strings.Contains(err.Error(), fmt.Sprintf("chunk %d", bad)) {
				t.Fatalf("chunk %d damaged, read from %d: n=%d err=%v, want n=%d and chunk %d named", bad, off, n, err, want, bad)
			}
			if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
				t.Fatalf("chunk %d damaged, read from %d: the good bytes before it differ", bad, off)
			}
		}
	}
}

// Check must report every bad chunk on its own: neighbours, single ones,
// and the last chunk.
func TestContentCheckEachChunk(t *testing.T) {
	v := fixedVault(4096)
	const chunks = 13
	data := randBytes(rand.New(rand.NewPCG(6, 6)), chunks*4096-9)
	raw := memFile(t, v, data).bytes()
	lay := newLayout(4096)
	for _, bad := range [][]int64{{}, {0}, {1}, {3, 4}, {4, 5}, {2, 7, 8, 12}, {11, 12}} {
		damaged := bytes.Clone(raw)
		for _, i := range bad {
			damaged[lay.lineOff(i)+100] ^= 1
		}
		var got []int64
		err := corrupted(v, damaged).Check(func(i int64, err error) {
			if !isCorrupt(err) || !strings.Contains(err.Error(), fmt.Sprintf("chunk %d", i)) {
				t.Errorf("chunk %d reported with %v", i, err)
			}
			got = append(got, i)
		})
		if fmt.Sprint(got) != fmt.Sprint(bad) || (len(bad) > 0) != isCorrupt(err) {
			t.Fatalf("damaged chunks %v: Check reported %v, %v", bad, got, err)
		}
	}
}
