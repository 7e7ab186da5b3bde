package vault

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

var contentChunkSizes = []int{64, DefaultChunkSize}

func boundarySizes(c int) []int {
	return []int{0, 1, 15, 16, 17, c - 1, c, c + 1, 2*c - 1, 2 * c, 5*c + 17, 40 * c}
}

func TestContentRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, cs := range contentChunkSizes {
		v := newTestVault(t, CreateOptions{ChunkSize: cs})
		for _, n := range append(boundarySizes(cs), 300*cs+5) {
			t.Run(fmt.Sprintf("chunk%d/size%d", cs, n), func(t *testing.T) {
				c, f := newFileContent(t, v)
				data := randBytes(r, n)
				if n > 0 {
					mustWrite(t, c, data, 0)
				}
				checkSizes(t, c, int64(n))
				if got := readAll(t, c); !bytes.Equal(got, data) {
					t.Fatal("read back differs")
				}
				// A fresh Content has no cached key: it must read the header.
				c2 := v.OpenContent(f, "again")
				if got := readAll(t, c2); !bytes.Equal(got, data) {
					t.Fatal("read back through a new Content differs")
				}
				// Reads at offsets around chunk boundaries, including
				// reads that start past the header-carrying chunk 0.
				for _, off := range []int{0, 1, cs - 1, cs, cs + 1, n / 2, n - 1, n} {
					for _, l := range []int{1, 7, cs, cs + 3, 3 * cs} {
						if off < 0 || off > n {
							continue
						}
						c3 := v.OpenContent(f, "fresh")
						buf := make([]byte, l)
						got, err := c3.ReadAt(buf, int64(off))
						want := min(l, n-off)
						if got != want || !bytes.Equal(buf[:got], data[off:off+want]) {
							t.Fatalf("ReadAt(%d, %d) = %d, %v: wrong data", l, off, got, err)
						}
						if (want < l) != (err == io.EOF) || (err != nil && err != io.EOF) {
							t.Fatalf("ReadAt(%d, %d) err = %v", l, off, err)
						}
					}
				}
				if err := c.Check(func(i int64, err error) { t.Errorf("chunk %d: %v", i, err) }); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

var headerLineRE = regexp.MustCompile(`^fernetfs/v1 [0-9a-f]{32}\n$`)

// TestContentBackingLayout reads BACKING directly: no plaintext, the header
// line, fixed-length token lines, and the trailing newlines.
func TestContentBackingLayout(t *testing.T) {
	marker := []byte("SECRET-PLAINTEXT-MARKER!")
	for _, cs := range contentChunkSizes {
		v := newTestVault(t, CreateOptions{ChunkSize: cs})
		for _, n := range boundarySizes(cs)[1:] {
			c, f := newFileContent(t, v)
			data := bytes.Repeat(marker, n/len(marker)+1)[:n]
			mustWrite(t, c, data, 0)
			raw, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if n >= len(marker) && bytes.Contains(raw, marker[:16]) {
				t.Fatalf("size %d: plaintext visible in backing file", n)
			}
			checkRawLayout(t, v, raw, data)
		}
	}
}

// checkRawLayout parses raw per SPEC.md independently of the reader and
// checks it decrypts to want.
func checkRawLayout(t *testing.T, v *Vault, raw, want []byte) {
	t.Helper()
	if len(want) == 0 {
		if len(raw) != 0 {
			t.Fatalf("empty file has %d backing bytes", len(raw))
		}
		return
	}
	if !headerLineRE.Match(raw[:45]) {
		t.Fatalf("header line %q", raw[:45])
	}
	id, _ := hex.DecodeString(string(raw[12:44]))
	cd := v.Keys().ContentKey(id).NewCodec()
	cs := v.ChunkSize()
	F := fernet.TokenLen(cs) + 1
	n := (len(want) + cs - 1) / cs
	rest := raw[45:]
	var got []byte
	for i := range n {
		last := i == n-1
		L := cs
		if last {
			L = len(want) - i*cs
		}
		var line []byte
		if last {
			tl := fernet.TokenLen(L)
			pad := 16 - L%16
			if len(rest) != tl+pad {
				t.Fatalf("last line is %d bytes, want %d+%d", len(rest), tl, pad)
			}
			if !bytes.Equal(rest[tl:], bytes.Repeat([]byte{'\n'}, pad)) {
				t.Fatalf("trailing bytes %q, want %d newlines", rest[tl:], pad)
			}
			line = rest[:tl]
		} else {
			line = rest[:F]
			rest = rest[F:]
			if line[0] == 0 {
				if !allZero(line) {
					t.Fatalf("chunk %d: partial hole", i)
				}
				got = append(got, make([]byte, cs)...)
				continue
			}
			if line[F-1] != '\n' {
				t.Fatalf("chunk %d line does not end in newline", i)
			}
			line = line[:F-1]
		}
		if line[0] != 'g' {
			t.Fatalf("chunk %d token starts with %q", i, line[0])
		}
		pt, ts, err := cd.Open(nil, line)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		wantTS := uint64(i)
		if last {
			wantTS |= 1 << 63
		}
		if ts != wantTS || len(pt) != L {
			t.Fatalf("chunk %d: ts %#x len %d, want %#x len %d", i, ts, len(pt), wantTS, L)
		}
		got = append(got, pt...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("backing decrypts to different data")
	}
}

// contentModel drives a Content and an in-memory model with the same ops.
type contentModel struct {
	t     testing.TB
	v     *Vault
	c     *Content
	model []byte
}

func (m *contentModel) write(off int64, p []byte) {
	m.t.Helper()
	mustWrite(m.t, m.c, p, off)
	if end := off + int64(len(p)); end > int64(len(m.model)) {
		m.model = append(m.model, make([]byte, end-int64(len(m.model)))...)
	}
	copy(m.model[off:], p)
}

func (m *contentModel) truncate(size int64) {
	m.t.Helper()
	if err := m.c.Truncate(size); err != nil {
		m.t.Fatalf("Truncate(%d): %v", size, err)
	}
	if size < int64(len(m.model)) {
		m.model = m.model[:size]
	} else {
		m.model = append(m.model, make([]byte, size-int64(len(m.model)))...)
	}
}

func (m *contentModel) check(what string) {
	m.t.Helper()
	checkSizes(m.t, m.c, int64(len(m.model)))
	if got := readAll(m.t, m.c); !bytes.Equal(got, m.model) {
		i := 0
		for i < len(got) && got[i] == m.model[i] {
			i++
		}
		m.t.Fatalf("after %s: content differs from model at byte %d", what, i)
	}
}

func TestContentModel(t *testing.T) {
	for _, cs := range contentChunkSizes {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("chunk%d/seed%d", cs, seed), func(t *testing.T) {
				v := newTestVault(t, CreateOptions{ChunkSize: cs})
				c, f := newFileContent(t, v)
				m := &contentModel{t: t, v: v, c: c}
				r := rand.New(rand.NewPCG(seed, 99))
				maxSize := 12 * cs
				for step := range 300 {
					var what string
					switch op := r.IntN(10); {
					case op < 6:
						off := r.Int64N(int64(maxSize))
						n := 1 + r.IntN(3*cs)
						if r.IntN(3) == 0 { // chunk-aligned
							off -= off % int64(cs)
							n = cs * (1 + r.IntN(3))
						}
						m.write(off, randBytes(r, n))
						what = fmt.Sprintf("step %d write %d@%d", step, n, off)
					case op < 9:
						size := r.Int64N(int64(maxSize))
						if r.IntN(4) == 0 {
							size = 0
						}
						m.truncate(size)
						what = fmt.Sprintf("step %d truncate %d", step, size)
					default:
						off := r.Int64N(int64(maxSize))
						n := 1 + r.Int64N(int64(2*cs))
						if err := m.c.Allocate(off, n, false); err != nil {
							t.Fatal(err)
						}
						if off+n > int64(len(m.model)) {
							m.model = append(m.model, make([]byte, off+n-int64(len(m.model)))...)
						}
						what = fmt.Sprintf("step %d allocate %d@%d", step, n, off)
					}
					if testing.Verbose() {
						t.Log(what)
					}
					m.check(what)
					if step%25 == 0 {
						// A new Content (cold key cache) sees the same file.
						m.c = v.OpenContent(f, f.Name())
						m.check(what + " (reopened)")
						raw, _ := os.ReadFile(f.Name())
						checkRawLayout(t, v, raw, m.model)
					}
				}
				if err := m.c.Check(nil); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestContentNewIDAfterTruncateZero(t *testing.T) {
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	c, f := newFileContent(t, v)
	mustWrite(t, c, []byte("hello"), 0)
	raw1, _ := os.ReadFile(f.Name())
	if err := c.Truncate(0); err != nil {
		t.Fatal(err)
	}
	checkSizes(t, c, 0)
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Fatalf("empty file has %d backing bytes", fi.Size())
	}
	mustWrite(t, c, []byte("hello"), 0)
	raw2, _ := os.ReadFile(f.Name())
	if bytes.Equal(raw1[:45], raw2[:45]) {
		t.Fatal("file ID reused after truncate to 0")
	}
	if got := readAll(t, c); string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
}

func TestContentArgs(t *testing.T) {
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	c, _ := newFileContent(t, v)
	if _, err := c.WriteAt([]byte("x"), -1); err == nil {
		t.Fatal("negative write offset accepted")
	}
	if _, err := c.ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatal("negative read offset accepted")
	}
	if err := c.Truncate(-1); err == nil {
		t.Fatal("negative truncate accepted")
	}
	if err := c.Truncate(c.lay.maxPlain + 1); err == nil {
		t.Fatal("truncate past the maximum size accepted")
	}
	if err := c.Allocate(0, 0, false); err == nil {
		t.Fatal("zero-length allocate accepted")
	}
	if n, err := c.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Fatalf("read of empty file: %d, %v", n, err)
	}
	if n, err := c.WriteAt(nil, 100); n != 0 || err != nil {
		t.Fatalf("empty write: %d, %v", n, err)
	}
	checkSizes(t, c, 0)
	c.SetName("/renamed")
	if c.Name() != "/renamed" {
		t.Fatal("SetName")
	}
}

// statCounter is a Backing that counts Stat calls.
type statCounter struct {
	*memBacking
	stats int
}

func (s *statCounter) Stat() (os.FileInfo, error) {
	s.stats++
	return s.memBacking.Stat()
}

// TestContentKnowBackingSize checks that a Content told its backing size
// reads and appends without statting the backing file, with the same
// result as one that stats it, and that a size told after the first
// access changes nothing.
func TestContentKnowBackingSize(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	b := &statCounter{memBacking: &memBacking{}}
	data := randBytes(rand.New(rand.NewPCG(21, 21)), 10_000)
	if _, err := v.OpenContent(b, "f").WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	size := int64(len(b.bytes()))
	for _, know := range []bool{false, true} {
		b.stats = 0
		c := v.OpenContent(b, "f")
		if know {
			c.KnowBackingSize(size)
		}
		got := make([]byte, len(data))
		if n, err := c.ReadAt(got, 0); n != len(data) || (err != nil && err != io.EOF) {
			t.Fatalf("know=%v: read %d, %v", know, n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("know=%v: read back different bytes", know)
		}
		want := 1
		if know {
			want = 0
		}
		if b.stats != want {
			t.Errorf("know=%v: %d Stat calls, want %d", know, b.stats, want)
		}
		// Known now: a later (wrong) size is ignored.
		c.KnowBackingSize(1)
		if p, err := c.Size(); err != nil || p != int64(len(data)) {
			t.Errorf("know=%v: size %d, %v after a late KnowBackingSize, want %d", know, p, err, len(data))
		}
	}
}
