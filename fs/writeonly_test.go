package fs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fernetfs/fernetfs/vault"
)

// TestWriteOnlyOpenFlags: only write-only handles bypass the kernel's
// page cache (FOPEN_DIRECT_IO); with shared storage every handle does.
func TestWriteOnlyOpenFlags(t *testing.T) {
	for _, shared := range []bool{false, true} {
		_, v := newTestVault(t, vault.CreateOptions{})
		v.SetSharedStorage(shared)
		rn, err := newRoot(v, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, acc := range []uint32{syscall.O_RDONLY, syscall.O_WRONLY, syscall.O_RDWR} {
			for _, extra := range []uint32{0, syscall.O_APPEND | syscall.O_CREAT | syscall.O_TRUNC} {
				got := rn.r().openFlags(acc | extra)
				direct := got&fuse.FOPEN_DIRECT_IO != 0
				if want := shared || acc == syscall.O_WRONLY; direct != want {
					t.Errorf("shared %v, flags %#o: open flags %#x, direct I/O %v, want %v", shared, acc|extra, got, direct, want)
				}
				if !shared && got&fuse.FOPEN_KEEP_CACHE == 0 {
					t.Errorf("flags %#o: open flags %#x drop the page cache of other handles", acc|extra, got)
				}
			}
		}
		rn.OnForget()
	}
}

// TestWriteOnlyWritesSeenByReaders writes a file through a write-only
// handle (direct I/O) in pieces that start inside pages and chunks, as
// tar's do, while another handle that reads through the page cache
// keeps reading it: every read must see every byte written so far, and
// so must a handle opened read-write, an O_APPEND write-only handle and
// a new open after the writer is closed.
func TestWriteOnlyWritesSeenByReaders(t *testing.T) {
	mnt, _, _ := mountTest(t, Options{})
	p := filepath.Join(mnt, "f")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rnd := rand.New(rand.NewPCG(4, 4))
	var model []byte
	check := func(what string, f *os.File) {
		t.Helper()
		got := make([]byte, len(model)+10)
		n, err := f.ReadAt(got, 0)
		if n != len(model) || !bytes.Equal(got[:n], model) {
			t.Fatalf("%s: read %d bytes (%v), want %d; equal prefix: %v", what, n, err, len(model), bytes.HasPrefix(model, got[:n]))
		}
		if st, err := f.Stat(); err != nil || st.Size() != int64(len(model)) {
			t.Fatalf("%s: size %v (%v), want %d", what, st.Size(), err, len(model))
		}
	}
	for _, n := range []int{597, 10240, 10240, 4095, 1, 4096, 4097, 15, 16, 17, 10240, 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		model = append(model, b...)
		check("cached reader after a write", r)
	}
	// Overwrites inside pages the reader has cached.
	for _, off := range []int64{0, 4095, 5000, 12287} {
		b := []byte("overwritten")
		if _, err := w.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(model[off:], b)
		check("cached reader after an overwrite", r)
	}
	rw, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.WriteAt([]byte("cached"), 100); err != nil {
		t.Fatal(err)
	}
	copy(model[100:], "cached")
	if _, err := w.WriteAt([]byte("direct"), 103); err != nil {
		t.Fatal(err)
	}
	copy(model[103:], "direct")
	check("read-write handle after both", rw)
	check("cached reader after both", r)
	a, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("appended")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	model = append(model, "appended"...)
	check("cached reader after an O_APPEND write", r)
	w.Close()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check("new handle", f)
}
