package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// rewriteIVInPlace overwrites a backing directory's IV file without
// replacing it, which leaves the directory's ctime as it was.
func rewriteIVInPlace(t *testing.T, dir string, iv []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, DirIVName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(iv, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func reopenIV(t *testing.T, root *Dir, name string) []byte {
	t.Helper()
	d, err := root.OpenDir(name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return append([]byte(nil), d.IV()...)
}

// TestDirIVCache: a directory opened again after its Dir was closed
// gets the IV read when that Dir was opened, with no read of the IV
// file (shown by a rewrite in place, which only a read would see),
// unless the directory changed since the read (any entry made or
// removed, an IV file renamed into place, also while it was open); a
// removed directory is not remembered; the cache stays bounded; and a vault
// that did not ask for the cache reads the file every time.
func TestDirIVCache(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	mkdir(t, root, "plain").Close()
	v.CacheDirIVs(2)
	// The directories here change moments before they are opened.
	v.ivCache.Load().settle = 0
	sub := mkdir(t, root, "a")
	createFile(t, sub, "f")
	orig := append([]byte(nil), sub.IV()...)
	b, err := root.BackingName("a")
	if err != nil {
		t.Fatal(err)
	}
	backing := filepath.Join(v.Dir(), b)
	sub.Close()
	other := bytes.Repeat([]byte{0xa5}, DirIVLen)
	// A file was made in it while open: its IV was not remembered.
	rewriteIVInPlace(t, backing, other)
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, other) {
		t.Fatalf("reopened after a file was made while open: IV %x, want %x from the file", got, other)
	}
	rewriteIVInPlace(t, backing, orig)
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, other) {
		t.Fatalf("reopened after an unseen rewrite: IV %x, want the remembered %x", got, other)
	}
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, other) {
		t.Fatalf("reopened once more: IV %x, want the remembered %x", got, other)
	}
	// A change while open: not remembered.
	open, err := root.OpenDir("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(backing, "stray0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	open.Close()
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, orig) {
		t.Fatalf("reopened after a change while open: IV %x, want %x from the file", got, orig)
	}
	// Closing again remembers it again; a change to the directory
	// then makes the next open read the file.
	if err := os.WriteFile(filepath.Join(backing, "stray"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rewriteIVInPlace(t, backing, other)
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, other) {
		t.Fatalf("reopened after the directory changed: IV %x, want %x from the file", got, other)
	}
	// An IV file renamed into place changes the directory too.
	third := bytes.Repeat([]byte{0x3c}, DirIVLen)
	tmp := filepath.Join(backing, "iv.tmp")
	if err := os.WriteFile(tmp, third, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(backing, DirIVName)); err != nil {
		t.Fatal(err)
	}
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, third) {
		t.Fatalf("reopened after a new IV file: IV %x, want %x", got, third)
	}

	// A directory removed while open is not remembered.
	mkdir(t, root, "gone").Close()
	gone, err := root.OpenDir("gone")
	if err != nil {
		t.Fatal(err)
	}
	gb, _ := root.BackingName("gone")
	var st unix.Stat_t
	if err := unix.Fstat(gone.Fd(), &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unlinkat(gone.Fd(), DirIVName, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unlinkat(root.Fd(), gb, unix.AT_REMOVEDIR); err != nil {
		t.Fatal(err)
	}
	gone.Close()
	v.ivCache.Load().mu.Lock()
	for k := range v.ivCache.Load().m {
		if k.ino == st.Ino {
			t.Errorf("removed directory (inode %d) still remembered", st.Ino)
		}
	}
	v.ivCache.Load().mu.Unlock()

	for _, n := range []string{"b", "c", "d"} {
		mkdir(t, root, n).Close()
		reopenIV(t, root, n)
	}
	v.ivCache.Load().mu.Lock()
	if n := len(v.ivCache.Load().m); n > 2 {
		t.Errorf("%d directories remembered, want at most 2", n)
	}
	v.ivCache.Load().mu.Unlock()

	// "plain" was closed before the cache was asked for, and a vault
	// without it reads the file on every open.
	pb, _ := root.BackingName("plain")
	rewriteIVInPlace(t, filepath.Join(v.Dir(), pb), other)
	if got := reopenIV(t, root, "plain"); !bytes.Equal(got, other) {
		t.Fatalf("directory never remembered: IV %x, want %x from the file", got, other)
	}
	v.CacheDirIVs(0)
	reopenIV(t, root, "a")
	rewriteIVInPlace(t, backing, orig)
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, orig) {
		t.Fatalf("cache off: IV %x, want %x from the file", got, orig)
	}

	// A directory changed moments before its IV is read is not
	// remembered.
	v.CacheDirIVs(2)
	if err := os.WriteFile(filepath.Join(backing, "stray2"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reopenIV(t, root, "a")
	rewriteIVInPlace(t, backing, other)
	if got := reopenIV(t, root, "a"); !bytes.Equal(got, other) {
		t.Fatalf("changed just before: IV %x, want %x from the file", got, other)
	}
}
