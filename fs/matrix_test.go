package fs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// plainGen makes plaintext that is random (every chunk differs, so a
// misplaced or stale chunk shows) yet recognisable: every 16-byte
// record starts with the same random 8-byte tag, so any stretch of 23
// plaintext bytes stored in the clear contains the tag and the BACKING
// scan finds it. Names made by name() carry the tag in hex.
type plainGen struct {
	tag [8]byte
	rng *rand.Rand
}

func newPlainGen(seed uint64) *plainGen {
	g := &plainGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := range g.tag {
		g.tag[i] = byte(g.rng.Uint32())
	}
	// A tag of NUL or newline bytes would also match holes and padding.
	g.tag[0] |= 0x80
	return g
}

// bytes returns n fresh bytes of tagged random records.
func (g *plainGen) bytes(n int) []byte {
	b := make([]byte, (n+15)/16*16)
	for i := 0; i < len(b); i += 16 {
		copy(b[i:], g.tag[:])
		for j := 8; j < 16; j++ {
			b[i+j] = byte(g.rng.Uint32())
		}
	}
	return b[:n]
}

// hexTag is the tag as it appears in plaintext names.
func (g *plainGen) hexTag() string { return hex.EncodeToString(g.tag[:]) }

// name is a plaintext file name carrying the tag.
func (g *plainGen) name(suffix string) string { return "n" + g.hexTag() + "-" + suffix }

// assertBackingClean scans BACKING for the generator's tag in contents,
// names and symlink targets, raw and hex-encoded.
func (g *plainGen) assertBackingClean(t testing.TB, backing string) {
	t.Helper()
	assertNoPlaintext(t, backing, g.tag[:])
	assertNoPlaintext(t, backing, []byte(g.hexTag()))
}

// diffAt is the first index where a and b differ (or the shorter length).
func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// readDirect reads a whole file with O_DIRECT, so the request reaches
// the daemon instead of being answered from the kernel's page cache.
func readDirect(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// preadDirect reads up to n bytes at off with O_DIRECT.
func preadDirect(f *os.File, n int, off int64) ([]byte, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return buf[:got], err
}

// expectContent checks a file on the mount three ways: its stat size,
// a buffered read and an O_DIRECT read must all match want.
func expectContent(t testing.TB, path string, want []byte) {
	t.Helper()
	if err := contentMismatch(path, want); err != nil {
		t.Error(err)
	}
}

func contentMismatch(path string, want []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() != int64(len(want)) {
		return fmt.Errorf("%s: stat size %d, want %d", path, fi.Size(), len(want))
	}
	for _, read := range []struct {
		how string
		fn  func(string) ([]byte, error)
	}{{"read", os.ReadFile}, {"O_DIRECT read", readDirect}} {
		got, err := read.fn(path)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, read.how, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s: %s: %d bytes, want %d, first difference at %d",
				path, read.how, len(got), len(want), diffAt(got, want))
		}
	}
	return nil
}

// matrixPoints are the sizes and offsets where the layout changes for
// chunk size c: empty, one byte, either side of the first chunk
// boundary, and several chunks ending mid-chunk.
func matrixPoints(c int) []int {
	return []int{0, 1, c - 1, c, c + 1, 2*c + 1, 9*c + 3}
}

// matrixLengths are the write lengths (0 is covered by the sizes); the
// longest spans many chunks (for the default chunk size, more than one
// 128 KiB FUSE request).
func matrixLengths(c int) []int {
	return []int{1, c - 1, c, c + 1, 40*c + 3}
}

// TestContentMatrix writes, overwrites, extends and truncates files at
// every combination of boundary size, offset and length, for the
// default chunk size and a 64-byte one, checking each result through
// the mount (stat, buffered and O_DIRECT reads) against an in-memory
// model, then reads every file back at boundary offsets through a cold
// remount, checks each backing file's size against the layout, and
// scans BACKING for plaintext and plaintext names.
func TestContentMatrix(t *testing.T) {
	requireFuse(t)
	for _, c := range []int{vault.DefaultChunkSize, 64} {
		t.Run(fmt.Sprintf("chunk%d", c), func(t *testing.T) {
			testContentMatrix(t, c)
		})
	}
}

func testContentMatrix(t *testing.T, c int) {
	backing, v := newTestVault(t, vault.CreateOptions{ChunkSize: c})
	m := mountVault(t, v, Options{})
	g := newPlainGen(uint64(c))
	model := map[string][]byte{}
	// preadSet are the files also read at every boundary offset and
	// length: all sizes and tails without the cost of doing it for
	// every file of the write matrix.
	preadSet := map[string]bool{}
	points, lengths := matrixPoints(c), matrixLengths(c)

	create := func(name string, data []byte) string {
		p := filepath.Join(m.dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return p
	}

	// pwrite of every length at every offset into files of every size.
	for _, size := range points {
		for _, off := range points {
			for _, n := range lengths {
				name := g.name(fmt.Sprintf("w%d-%d-%d", size, off, n))
				want := g.bytes(size)
				p := create(name, want)
				data := g.bytes(n)
				f, err := os.OpenFile(p, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt(data, int64(off)); err != nil {
					t.Fatalf("%s: pwrite: %v", name, err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				if end := off + n; end > len(want) {
					want = append(want, make([]byte, end-len(want))...)
				}
				copy(want[off:], data)
				model[name] = want
				expectContent(t, p, want)
			}
		}
	}

	// Truncate from every size to every size, by path (setattr without
	// a handle) and by handle, then append to the new end.
	for _, from := range points {
		for _, to := range points {
			for _, byHandle := range []bool{false, true} {
				name := g.name(fmt.Sprintf("t%d-%d-%v", from, to, byHandle))
				want := g.bytes(from)
				p := create(name, want)
				if byHandle {
					f, err := os.OpenFile(p, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					if err := f.Truncate(int64(to)); err != nil {
						t.Fatalf("%s: ftruncate: %v", name, err)
					}
					f.Close()
				} else if err := os.Truncate(p, int64(to)); err != nil {
					t.Fatalf("%s: truncate: %v", name, err)
				}
				if to <= len(want) {
					want = want[:to]
				} else {
					want = append(want, make([]byte, to-len(want))...)
				}
				expectContent(t, p, want)
				tail := g.bytes(c/2 + 3)
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Write(tail); err != nil {
					t.Fatalf("%s: append after truncate: %v", name, err)
				}
				f.Close()
				want = append(want, tail...)
				model[name] = want
				preadSet[name] = byHandle
				expectContent(t, p, want)
			}
		}
	}

	// Files grown by truncate up (holes) and fallocate, then written
	// sparsely, in the middle of a hole.
	for _, size := range points[1:] {
		name := g.name(fmt.Sprintf("h%d", size))
		p := create(name, nil)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 10*c+size)
		if err := f.Truncate(int64(5 * c)); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fallocate(int(f.Fd()), 0, int64(5*c), int64(5*c+size)); err != nil {
			t.Fatalf("fallocate: %v", err)
		}
		mid := g.bytes(size)
		if _, err := f.WriteAt(mid, int64(2*c+c/2)); err != nil {
			t.Fatal(err)
		}
		copy(want[2*c+c/2:], mid)
		f.Close()
		model[name] = want
		preadSet[name] = true
		expectContent(t, p, want)
	}

	checkBackingSizes(t, v, model, c)

	// Cold cache: a new mount must read the same through the daemon.
	m.unmount(t)
	m2 := mountVault(t, v, Options{})
	checkModel(t, m2.dir, model, preadSet, points, lengths)
	g.assertBackingClean(t, backing)
}

// checkModel verifies the listing of dir against the model, reads every
// file whole and reads those in preadSet with O_DIRECT at every
// boundary offset and length (plus the last byte and EOF).
func checkModel(t *testing.T, dir string, model map[string][]byte, preadSet map[string]bool, points, lengths []int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	var want []string
	for name := range model {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("listing has %d names, model %d", len(names), len(want))
	}
	for _, name := range want {
		data := model[name]
		p := filepath.Join(dir, name)
		if err := contentMismatch(p, data); err != nil {
			t.Error(err)
			continue
		}
		if !preadSet[name] {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECT, 0)
		if err != nil {
			t.Fatal(err)
		}
		offs := append(slices.Clone(points), len(data)-1, len(data))
		for _, off := range offs {
			if off < 0 || off > len(data) {
				continue
			}
			for _, n := range lengths {
				got, err := preadDirect(f, n, int64(off))
				if err != nil {
					t.Errorf("%s: pread %d at %d: %v", name, n, off, err)
					continue
				}
				exp := data[off:min(len(data), off+n)]
				if !bytes.Equal(got, exp) {
					t.Errorf("%s: pread %d at %d: got %d bytes, want %d, first difference at %d",
						name, n, off, len(got), len(exp), diffAt(got, exp))
				}
			}
		}
		f.Close()
	}
}

// checkBackingSizes checks that each backing file has exactly the size
// the layout gives its plaintext size: no stray bytes, nothing missing.
func checkBackingSizes(t *testing.T, v *vault.Vault, model map[string][]byte, c int) {
	t.Helper()
	for name, data := range model {
		bp, err := v.ResolvePath(name)
		if err != nil {
			t.Fatalf("resolve %s: %v", name, err)
		}
		fi, err := os.Stat(bp)
		if err != nil {
			t.Fatal(err)
		}
		if want := vault.BackingSize(int64(len(data)), c); fi.Size() != want {
			t.Errorf("%s: backing size %d, want %d for %d plaintext bytes", name, fi.Size(), want, len(data))
		}
	}
}
