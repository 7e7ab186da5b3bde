package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSharedStorageLocks holds another open file description's lock on
// one chunk's line (as another machine's writer would) and checks that
// a shared-storage write to another chunk goes ahead, a write to that
// chunk and a write growing the file wait for it, and all land.
func TestSharedStorageLocks(t *testing.T) {
	v := fixedVault(64)
	v.SetSharedStorage(true)
	path := filepath.Join(t.TempDir(), "f")
	open := func() (*Content, *os.File) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		c := v.OpenContent(f, path)
		t.Cleanup(func() { c.Close() })
		return c, f
	}
	c, _ := open()
	const chunks = 8
	if _, err := c.WriteAt(bytes.Repeat([]byte{'.'}, chunks*64), 0); err != nil {
		t.Fatal(err)
	}
	_, other := open()
	lo, hi := c.lineRange(3*64, 4*64)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: lo, Len: hi - lo}
	if err := unix.FcntlFlock(other.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	done := func(f func() error) chan error {
		ch := make(chan error, 1)
		go func() { ch <- f() }()
		return ch
	}
	write := func(off int64, b byte) func() error {
		return func() error { _, err := c.WriteAt(bytes.Repeat([]byte{b}, 10), off); return err }
	}
	// Chunk 1 is not locked: this write must finish while chunk 3 is.
	select {
	case err := <-done(write(64+5, 'a')):
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to chunk 1 waited for another mount's lock on chunk 3")
	}
	blocked := done(write(3*64+5, 'b'))
	select {
	case err := <-blocked:
		t.Fatalf("a write to chunk 3 went ahead under another mount's lock (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	lk.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(other.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	// A lock on the tail (as a resizing mount holds) stops every access.
	lk = unix.Flock_t{Type: unix.F_WRLCK, Start: tailLockOff, Len: 1}
	if err := unix.FcntlFlock(other.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	grow := done(write(chunks*64, 'c'))
	select {
	case err := <-grow:
		t.Fatalf("a growing write went ahead under another mount's tail lock (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	lk.Type = unix.F_UNLCK
	unix.FcntlFlock(other.Fd(), unix.F_OFD_SETLK, &lk)
	if err := <-grow; err != nil {
		t.Fatal(err)
	}
	c2, _ := open()
	got := make([]byte, chunks*64+10)
	if n, err := c2.ReadAt(got, 0); n != len(got) {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	want := bytes.Repeat([]byte{'.'}, chunks*64)
	copy(want[64+5:], "aaaaaaaaaa")
	copy(want[3*64+5:], "bbbbbbbbbb")
	want = append(want, "cccccccccc"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("content\n%q\nwant\n%q", got, want)
	}
}

// TestSharedStorageStaleSizeHint: a write picks its locks from the size
// the previous operation saw; another mount growing or cutting the file
// since must not make it lose bytes or write at a stale end.
func TestSharedStorageStaleSizeHint(t *testing.T) {
	v := fixedVault(64)
	v.SetSharedStorage(true)
	path := filepath.Join(t.TempDir(), "f")
	open := func() *Content {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		c := v.OpenContent(f, path)
		t.Cleanup(func() { c.Close() })
		return c
	}
	mine, other := open(), open()
	write := func(c *Content, p []byte, off int64) {
		t.Helper()
		if _, err := c.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	write(mine, bytes.Repeat([]byte{'.'}, 64), 0)
	// Grown elsewhere: this write is inside the file, not at its end.
	write(other, bytes.Repeat([]byte{'.'}, 8*64), 0)
	write(mine, []byte("aaaaaaaaaa"), 3*64+5)
	// Cut elsewhere: this write, inside the file as mine saw it, grows it.
	if err := other.Truncate(64); err != nil {
		t.Fatal(err)
	}
	write(mine, []byte("bbbbbbbbbb"), 5*64)
	want := make([]byte, 5*64+10)
	copy(want, bytes.Repeat([]byte{'.'}, 64))
	copy(want[5*64:], "bbbbbbbbbb")
	got := make([]byte, len(want)+1)
	n, _ := open().ReadAt(got, 0)
	if !bytes.Equal(got[:n], want) {
		t.Fatalf("content\n%q\nwant\n%q", got[:n], want)
	}
	write(other, bytes.Repeat([]byte{'.'}, 8*64), 0)
	write(mine, []byte("cccccccccc"), 2*64)
	want = bytes.Repeat([]byte{'.'}, 8*64)
	copy(want[2*64:], "cccccccccc")
	got = make([]byte, len(want)+1)
	n, _ = open().ReadAt(got, 0)
	if !bytes.Equal(got[:n], want) {
		t.Fatalf("content\n%q\nwant\n%q", got[:n], want)
	}
}
