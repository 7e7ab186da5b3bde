package vault

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fixedVault is a vault with a fixed master key and no directory, for
// golden files and fuzz seeds that must decrypt the same way every run.
func fixedVault(chunkSize int) *Vault {
	var master [32]byte
	for i := range master {
		master[i] = byte(i)
	}
	return &Vault{header: &Header{Format: FormatVersion, ChunkSize: chunkSize}, keys: DeriveKeys(master)}
}

// newFileContent opens a fresh backing file in t.TempDir().
func newFileContent(t testing.TB, v *Vault) (*Content, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c := v.OpenContent(f, path)
	t.Cleanup(func() { c.Close() }) // before f.Close: cleanups run last first
	return c, f
}

// memBacking is an in-memory Backing for fuzzing and for the non-file
// code paths (seeking without SEEK_DATA).
type memBacking struct {
	mu   sync.RWMutex
	data []byte
}

func (m *memBacking) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memBacking) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, end-int64(len(m.data)))...)
	}
	return copy(m.data[off:], p), nil
}

func (m *memBacking) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size <= int64(len(m.data)) {
		m.data = m.data[:size]
	} else {
		m.data = append(m.data, make([]byte, size-int64(len(m.data)))...)
	}
	return nil
}

func (m *memBacking) Stat() (os.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return memInfo(len(m.data)), nil
}

func (m *memBacking) bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.data)
}

type memInfo int64

func (n memInfo) Name() string       { return "mem" }
func (n memInfo) Size() int64        { return int64(n) }
func (n memInfo) Mode() fs.FileMode  { return 0o600 }
func (n memInfo) ModTime() time.Time { return time.Time{} }
func (n memInfo) IsDir() bool        { return false }
func (n memInfo) Sys() any           { return nil }

// readAll reads the whole plaintext through c with one ReadAt.
func readAll(t testing.TB, c *Content) []byte {
	t.Helper()
	size, err := c.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size+7)
	n, err := c.ReadAt(buf, 0)
	if int64(n) != size || (err != io.EOF && !(size == 0 && err == io.EOF)) {
		t.Fatalf("ReadAt(all): n=%d err=%v, size %d", n, err, size)
	}
	return buf[:n]
}

// mustWrite writes p at off and fails the test on error.
func mustWrite(t testing.TB, c *Content, p []byte, off int64) {
	t.Helper()
	n, err := c.WriteAt(p, off)
	if err != nil || n != len(p) {
		t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
	}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkSizes asserts Size() and the backing size agree with size.
func checkSizes(t testing.TB, c *Content, size int64) {
	t.Helper()
	got, err := c.Size()
	if err != nil || got != size {
		t.Fatalf("Size() = %d, %v; want %d", got, err, size)
	}
	fi, err := c.b.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if want := c.lay.backingSize(size); fi.Size() != want {
		t.Fatalf("backing size %d, want BackingSize(%d) = %d", fi.Size(), size, want)
	}
}

func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// randomReads reads n random ranges of at most 9000 bytes (small, so
// readBacking takes its small-read path: the mapping, or the pread
// fallback) and compares them with want.
func randomReads(t *testing.T, c *Content, want []byte, r *rand.Rand, n int) {
	t.Helper()
	for range n {
		off := r.Int64N(int64(len(want)))
		k := min(int64(1+r.IntN(9000)), int64(len(want))-off)
		buf := make([]byte, k)
		if got, err := c.ReadAt(buf, off); int64(got) != k || (err != nil && off+k != int64(len(want))) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", k, off, got, err)
		}
		if !bytes.Equal(buf, want[off:off+k]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
}

// randomOverwrite writes up to 9000 random bytes at a random offset of
// c (possibly growing it) and returns want with the same change.
func randomOverwrite(t *testing.T, c *Content, want []byte, r *rand.Rand) []byte {
	t.Helper()
	off := r.Int64N(int64(len(want)))
	p := randBytes(r, 1+r.IntN(9000))
	mustWrite(t, c, p, off)
	if end := off + int64(len(p)); end > int64(len(want)) {
		want = append(want, make([]byte, end-int64(len(want)))...)
	}
	copy(want[off:], p)
	return want
}

// Reserve makes memBacking a reserver: memory needs no reservation.
func (m *memBacking) Reserve(off, n int64) error { return nil }
