package vault

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newTestReverse makes a plaintext folder with a reverse header (chunk
// size 64, cheap KDF) and unlocks it.
func newTestReverse(t *testing.T) (string, *Reverse) {
	t.Helper()
	dir := t.TempDir()
	if _, err := CreateReverse(dir, []byte("pw"), CreateOptions{Iterations: 1000, ChunkSize: 64}); err != nil {
		t.Fatal(err)
	}
	r, err := UnlockReverse(dir, Credential{Password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	return dir, r
}

// reverseView returns the whole view file of dir/name, read in pieces of
// random sizes at random offsets, checking each against one whole read.
func reverseView(t *testing.T, r *Reverse, dir, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	c := r.OpenContent(f, name, fi.Size())
	whole, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()+10))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(whole)) != c.Size() || c.Size() != r.BackingSize(fi.Size()) {
		t.Fatalf("%s: view is %d bytes, Size %d", name, len(whole), c.Size())
	}
	for range 50 {
		if len(whole) == 0 {
			break
		}
		off := rand.IntN(len(whole))
		size := rand.IntN(300) + 1
		if rand.IntN(4) == 0 {
			size = rand.IntN(len(whole)) + 1 // spans runs sealed in parallel
		}
		buf := make([]byte, size)
		n, err := c.ReadAt(buf, int64(off))
		if err != nil && err != io.EOF || (err == io.EOF) != (off+len(buf) > len(whole)) || n != min(len(buf), len(whole)-off) {
			t.Fatalf("ReadAt(%d, %d): %d, %v", len(buf), off, n, err)
		}
		if !bytes.Equal(buf[:n], whole[off:off+n]) {
			for i := range buf[:n] {
				if buf[i] != whole[off+i] {
					t.Logf("at %d: %q vs %q (size %d)", i, buf[i:min(n, i+20)], whole[off+i:min(len(whole), off+i+20)], len(whole))
					break
				}
			}
			t.Fatalf("ReadAt(%d, %d) differs from the whole read", len(buf), off)
		}
	}
	return whole
}

// openView reads a view file back with the forward vault's reader.
func openView(t *testing.T, r *Reverse, view []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backing")
	if err := os.WriteFile(path, view, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := r.fwd.OpenContent(f, path)
	defer c.Close()
	if err := c.Check(func(i int64, err error) { t.Errorf("chunk %d: %v", i, err) }); err != nil {
		t.Fatal(err)
	}
	size, err := c.Size()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, size)
	if _, err := c.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return got
}

func TestReverseContentIsForwardContent(t *testing.T) {
	dir, r := newTestReverse(t)
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 128, 64*7 + 5} {
		name := "f" + strings.Repeat("x", n%7)
		plain := make([]byte, n)
		for i := range plain {
			plain[i] = byte(rand.IntN(256))
		}
		if err := os.WriteFile(filepath.Join(dir, name), plain, 0o600); err != nil {
			t.Fatal(err)
		}
		view := reverseView(t, r, dir, name)
		if got := openView(t, r, view); !bytes.Equal(got, plain) {
			t.Fatalf("size %d: forward read of the view differs from the plaintext", n)
		}
	}
}

func TestReverseDeterministic(t *testing.T) {
	dir, r := newTestReverse(t)
	plain := bytes.Repeat([]byte("0123456789abcdef"), 64) // 16 chunks
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	a := reverseView(t, r, dir, "f")
	r2, err := UnlockReverse(dir, Credential{RecoveryKey: r.RecoveryKey()})
	if err != nil {
		t.Fatal(err)
	}
	if b := reverseView(t, r2, dir, "f"); !bytes.Equal(a, b) {
		t.Fatal("the same plaintext gave different views after unlocking again")
	}
	// One byte changed: one line of the view changes. The same bytes
	// at another path: every line differs (another file ID).
	plain[300] ^= 1
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	b := reverseView(t, r, dir, "f")
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	diff := 0
	for i := range la {
		if la[i] != lb[i] {
			diff++
		}
	}
	if len(la) != len(lb) || diff != 1 {
		t.Fatalf("a 1-byte change altered %d lines, want 1", diff)
	}
	if err := os.WriteFile(filepath.Join(dir, "g"), plain, 0o600); err != nil {
		t.Fatal(err)
	}
	lg := strings.Split(string(reverseView(t, r, dir, "g")), "\n")
	for i := range lb[:len(lb)-1] {
		if lb[i] != "" && lb[i] == lg[i] {
			t.Fatalf("line %d of two files with equal content is equal", i)
		}
	}
}

func TestReverseSparse(t *testing.T) {
	dir, r := newTestReverse(t)
	path := filepath.Join(dir, "sparse")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 1<<20 + 10
	if _, err := f.WriteAt([]byte("end"), size-3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	view := reverseView(t, r, dir, "sparse")
	lay := newLayout(64)
	hole := lay.lineOff(10) // a chunk well inside the hole
	if !bytes.Equal(view[hole:hole+lay.line], make([]byte, lay.line)) {
		t.Skip("the temporary directory's filesystem does not report holes")
	}
	want := make([]byte, size)
	copy(want[size-3:], "end")
	if !bytes.Equal(openView(t, r, view), want) {
		t.Fatal("sparse file: forward read differs")
	}
}

func TestReverseShrinkWhileReading(t *testing.T) {
	dir, r := newTestReverse(t)
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := r.OpenContent(f, "f", 1000)
	if err := os.Truncate(path, 500); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if !errors.Is(err, ErrShrunk) {
		t.Fatalf("reading a file that shrank: %v, want ErrShrunk", err)
	}
}

func TestReverseHeaders(t *testing.T) {
	dir, r := newTestReverse(t)
	rev, err := os.ReadFile(filepath.Join(dir, ReverseHeaderName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHeader(rev); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("forward ParseHeader of a reverse header: %v", err)
	}
	if _, err := CreateReverse(dir, []byte("pw"), CreateOptions{Iterations: 1000}); err == nil {
		t.Fatal("a second init --reverse overwrote the header")
	}
	if _, err := UnlockReverse(dir, Credential{Password: []byte("wrong")}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	// The view's header unlocks as a forward vault with the same password.
	copyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, HeaderName), r.ForwardHeader(), 0o400); err != nil {
		t.Fatal(err)
	}
	v, err := Unlock(copyDir, Credential{Password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if v.Header().HasFeature(FeatureReverse) || v.RecoveryKey() != r.RecoveryKey() {
		t.Fatal("the view's header is not the forward twin of the reverse header")
	}
	// created_by goes from the reverse header into the view's.
	dir2 := t.TempDir()
	if _, err := CreateReverse(dir2, []byte("pw"), CreateOptions{Iterations: 1000, CreatedBy: "fernetfs test"}); err != nil {
		t.Fatal(err)
	}
	r2, err := UnlockReverse(dir2, Credential{Password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := ParseHeader(r2.ForwardHeader()); err != nil || h.CreatedBy != "fernetfs test" {
		t.Fatalf("view's header: %+v, %v", h, err)
	}
}

// TestReverseChangingWhileRead: a file rewritten in place, and now and
// then cut short and grown back, while its view is read gives either
// ErrShrunk or a view whose every chunk is a valid token (of whatever
// that chunk's read returned), never a short or invalid one.
func TestReverseChangingWhileRead(t *testing.T) {
	dir, r := newTestReverse(t)
	path := filepath.Join(dir, "f")
	const size = 64*64 + 7
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 100)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := range buf {
				buf[i] = byte(rand.IntN(256))
			}
			w.WriteAt(buf, int64(rand.IntN(size-len(buf))))
			if rand.IntN(20) == 0 {
				w.Truncate(size / 2)
				w.Truncate(size)
			}
		}
	}()
	shrunk := 0
	for range 40 {
		view, err := reverseViewOnce(t, r, dir, "f", size)
		if errors.Is(err, ErrShrunk) {
			shrunk++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		openView(t, r, view) // fails the test on any invalid chunk
	}
	t.Logf("%d of 40 reads found the file cut short", shrunk)
	close(stop)
	<-done
}

// reverseViewOnce reads the whole view of dir/name, of the given size,
// in one ReadAt.
func reverseViewOnce(t *testing.T, r *Reverse, dir, name string, size int64) ([]byte, error) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := r.OpenContent(f, name, size)
	view := make([]byte, c.Size())
	if _, err := c.ReadAt(view, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return view, nil
}

func TestReverseChangePassword(t *testing.T) {
	dir, r := newTestReverse(t)
	before := r.ForwardHeader()
	if err := r.ChangePassword([]byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := UnlockReverse(dir, Credential{Password: []byte("pw")}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password after the change: %v", err)
	}
	r2, err := UnlockReverse(dir, Credential{Password: []byte("new")})
	if err != nil {
		t.Fatal(err)
	}
	if r2.RecoveryKey() != r.RecoveryKey() || bytes.Equal(r2.ForwardHeader(), before) || !bytes.Equal(r2.ForwardHeader(), r.ForwardHeader()) {
		t.Fatal("the view's header did not follow the new password, or the master key changed")
	}
	if !bytes.Equal(r2.DirIV("a"), r.DirIV("a")) || !bytes.Equal(r2.FileID("a"), r.FileID("a")) {
		t.Fatal("derived values changed with the password")
	}
	bak, err := os.ReadFile(filepath.Join(dir, ReverseHeaderBackupName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseHeaderJSON(bak); err != nil {
		t.Fatalf("header backup: %v", err)
	}
}
