package fs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// hangGuard bounds operations that used to hang, so a regression fails
// the test instead of stalling the suite; it is never what a test
// asserts.
const hangGuard = 60 * time.Second

// putBacking writes a backing file under the encrypted name of plain in
// d, with exactly the bytes given (a damaged copy of another file's
// backing bytes, say; a file's content does not depend on its name).
func putBacking(t *testing.T, d *vault.Dir, plain string, data []byte) string {
	t.Helper()
	b, err := d.PrepareName(plain)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Openat(d.Fd(), b, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, data, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// sealedBacking returns the backing bytes of a file holding plain.
func sealedBacking(t *testing.T, v *vault.Vault, plain []byte) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "content")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := v.OpenContent(f, "sealed")
	defer c.Close()
	if _, err := c.WriteAt(plain, 0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFifoInPlaceOfFileReadOnly swaps a FIFO in for a file's backing
// file under a read-only mount: opening the file must fail with EIO at
// once rather than block a mount thread waiting for a writer.
func TestFifoInPlaceOfFileReadOnly(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{})
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	b := putBacking(t, root, "f", sealedBacking(t, v, []byte("hello\n")))
	m := mountVault(t, v, Options{ReadOnly: true})
	p := filepath.Join(m.dir, "f")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	// The kernel still has the regular file cached, so open goes to
	// the mount.
	if err := os.Remove(filepath.Join(backing, b)); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(backing, b), 0o644); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		res <- err
	}()
	select {
	case err := <-res:
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("open of a file whose backing is now a FIFO: %v, want EIO", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("open of a file whose backing is now a FIFO blocked")
	}
}
