package vault

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

const benchFileSize = 64 << 20

// benchContent is a benchFileSize file of random data on a real file in
// b.TempDir(), with the default chunk size.
func benchContent(b *testing.B) *Content { return benchContentJournal(b, false) }

// benchContentJournal is benchContent, with in-place writes journaled
// (as on a mount) if journal is set.
func benchContentJournal(b *testing.B, journal bool) *Content {
	b.Helper()
	v := newTestVault(b, CreateOptions{})
	if journal {
		v.StartJournal()
		b.Cleanup(func() { v.StopJournal() })
	}
	c, _ := newFileContent(b, v)
	buf := randBytes(rand.New(rand.NewPCG(1, 1)), 1<<20)
	for off := int64(0); off < benchFileSize; off += int64(len(buf)) {
		mustWrite(b, c, buf, off)
	}
	return c
}

func benchOffsets(size int, sequential bool) func(i int) int64 {
	if sequential {
		return func(i int) int64 { return int64(i*size) % benchFileSize }
	}
	r := rand.New(rand.NewPCG(2, 2))
	return func(int) int64 { return r.Int64N(benchFileSize/int64(size)) * int64(size) }
}

var benchShapes = []struct {
	name       string
	size       int
	sequential bool
}{
	{"1MiB-seq", 1 << 20, true},
	{"4KiB-rand", 4 << 10, false},
}

func BenchmarkContentReadAt(b *testing.B) {
	c := benchContent(b)
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			buf := make([]byte, s.size)
			next := benchOffsets(s.size, s.sequential)
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if n, err := c.ReadAt(buf, next(i)); err != nil || n != len(buf) {
					b.Fatal(n, err)
				}
				i++
			}
		})
	}
}

// BenchmarkContentWriteAt overwrites a file in place, with and without
// the undo journal (the journal copies the old lines first).
func BenchmarkContentWriteAt(b *testing.B) {
	for _, journal := range []bool{false, true} {
		c := benchContentJournal(b, journal)
		for _, s := range benchShapes {
			b.Run(fmt.Sprintf("%s/journal=%v", s.name, journal), func(b *testing.B) {
				buf := randBytes(rand.New(rand.NewPCG(3, 3)), s.size)
				next := benchOffsets(s.size, s.sequential)
				b.SetBytes(int64(s.size))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if n, err := c.WriteAt(buf, next(i)); err != nil || n != len(buf) {
						b.Fatal(n, err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkContentWriteAtUnaligned is a 4 KiB write straddling two
// chunks: two partial chunks, so two old chunks are read and decrypted.
func BenchmarkContentWriteAtUnaligned(b *testing.B) {
	c := benchContent(b)
	buf := randBytes(rand.New(rand.NewPCG(4, 4)), 4<<10)
	next := benchOffsets(4<<10, false)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.WriteAt(buf, next(i)+100); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkContentWriteAtAppend grows a file with appends (each one
// rewrites the old last chunk as a full one), starting over at
// benchFileSize.
func BenchmarkContentWriteAtAppend(b *testing.B) {
	for _, size := range []int{4 << 10, 10 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			v := newTestVault(b, CreateOptions{})
			c, _ := newFileContent(b, v)
			buf := randBytes(rand.New(rand.NewPCG(5, 5)), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				if off >= benchFileSize {
					if err := c.Truncate(0); err != nil {
						b.Fatal(err)
					}
					off = 0
				}
				if _, err := c.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				off += int64(size)
			}
		})
	}
}
