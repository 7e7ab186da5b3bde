package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
	"github.com/fernetfs/fernetfs/vault/fernet"
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

// openVaultFile opens the backing file of plain in d as the offline
// tools do.
func openVaultFile(t *testing.T, v *vault.Vault, d *vault.Dir, plain string, flags int) (*vault.Content, func()) {
	t.Helper()
	b, err := d.BackingName(plain)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	fd, err := vault.OpenBackingFile(d.Fd(), b, flags, 0, &st)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), plain)
	c := v.OpenContent(f, "/"+plain)
	return c, func() { c.Close(); f.Close() }
}

// readAllContent reads c from the start to io.EOF as cat and decrypt do.
func readAllContent(c *vault.Content) ([]byte, error) {
	var out []byte
	buf := make([]byte, 1000)
	for off := int64(0); ; {
		n, err := c.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// TestDamagedSizesNeverReadHealthy cuts a multi-chunk file at every
// backing size between its last two whole-line boundaries and its end:
// cuts at a line end, inside a line, inside the final token, in its
// newlines, and one byte short. Each cut file must fail to read through
// a real mount (EIO, never a short file read to a clean EOF), with one
// log line naming it; the offline reader must fail too and Check must
// report it; RepairTail must leave a sound file holding exactly the
// longest prefix of chunks whose tokens survived.
func TestDamagedSizesNeverReadHealthy(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{ChunkSize: 64})
	_ = backing
	const C = 64
	plain := newPlainGen(9).bytes(3*C + 20)
	whole := sealedBacking(t, v, plain)
	H := int64(45)
	F := int64(fernet.TokenLen(C) + 1)
	lo, hi := int64(1), int64(len(whole))
	if got := vault.BackingSize(int64(len(plain)), C); got != hi {
		t.Fatalf("backing size %d, want %d", hi, got)
	}
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	name := func(s int64) string { return fmt.Sprintf("cut-%d", s) }
	for s := lo; s < hi; s++ {
		putBacking(t, root, name(s), whole[:s])
	}

	putBacking(t, root, "overwrite", whole[:hi-1])

	m := mountVault(t, v, Options{})
	// A damaged file can still be replaced: O_TRUNC opens pass.
	if err := os.WriteFile(filepath.Join(m.dir, "overwrite"), []byte("new"), 0o644); err != nil {
		t.Errorf("overwriting a damaged file: %v", err)
	} else if got, err := os.ReadFile(filepath.Join(m.dir, "overwrite")); err != nil || string(got) != "new" {
		t.Errorf("after overwriting a damaged file: %q, %v", got, err)
	}
	for s := lo; s < hi; s++ {
		p := filepath.Join(m.dir, name(s))
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", name(s), err)
		}
		if _, err := vault.PlainSize(s, C); err != nil && fi.Size() != vault.PrefixSize(s, C) {
			t.Errorf("%s: stat size %d, want %d, the size of its whole chunks", name(s), fi.Size(), vault.PrefixSize(s, C))
		}
		for range 2 {
			data, err := os.ReadFile(p)
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("%s (backing %d bytes): read %d bytes through the mount, error %v; want EIO", name(s), s, len(data), err)
			}
		}
	}
	logLines := strings.Split(m.log.String(), "\n")
	for s := lo; s < hi; s++ {
		n := 0
		for _, l := range logLines {
			if strings.Contains(l, "/"+name(s)+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: named in %d log lines, want 1", name(s), n)
		}
	}

	for s := lo; s < hi; s++ {
		c, done := openVaultFile(t, v, root, name(s), unix.O_RDWR)
		if data, err := readAllContent(c); !errors.Is(err, vault.ErrCorrupt) {
			t.Errorf("%s: offline read gave %d bytes, error %v; want corruption", name(s), len(data), err)
		}
		if err := c.Check(nil); !errors.Is(err, vault.ErrCorrupt) {
			t.Errorf("%s: Check: %v, want corruption", name(s), err)
		}
		r, err := c.RepairTail()
		if err != nil || !r.Changed {
			t.Errorf("%s: RepairTail: %+v, %v", name(s), r, err)
		}
		if err := c.Check(nil); err != nil {
			t.Errorf("%s: Check after repair: %v", name(s), err)
		}
		got, err := readAllContent(c)
		if err != nil {
			t.Errorf("%s: read after repair: %v", name(s), err)
		}
		// The chunks whose whole token is still there: full lines, and a
		// last one cut only in its newline(s).
		keep := (s - H) / F
		rest := s - H - keep*F
		if keep < 3 && rest >= F-1 || keep == 3 && rest >= int64(fernet.TokenLen(20)) {
			keep++
		}
		want := plain[:min(keep*C, int64(len(plain)))]
		if !bytes.Equal(got, want) || r.Kept != int64(len(want)) {
			t.Errorf("%s: repaired to %d bytes (reported %d), want the first %d", name(s), len(got), r.Kept, len(want))
		}
		if r.NewBacking != vault.BackingSize(int64(len(want)), C) {
			t.Errorf("%s: backing %d bytes after repair, want %d", name(s), r.NewBacking, vault.BackingSize(int64(len(want)), C))
		}
		again, err := c.RepairTail()
		if err != nil || again.Changed {
			t.Errorf("%s: second RepairTail: %+v, %v", name(s), again, err)
		}
		done()
	}
}

// TestSeekPunchedLastChunk punches holes in the backing file over the
// end of a file, its last chunk included: SEEK_DATA must not answer an
// offset in a hole that SEEK_HOLE then answers with the same offset, so
// cp --sparse=always through the mount ends with an error instead of
// spinning.
func TestSeekPunchedLastChunk(t *testing.T) {
	cp := needTool(t, "cp")
	backing, v := newTestVault(t, vault.CreateOptions{})
	plain := newPlainGen(4).bytes(8*4096 + 100)
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	b := putBacking(t, root, "punched", sealedBacking(t, v, plain))
	F := int64(fernet.TokenLen(4096) + 1)
	from := int64(45) + 2*F
	bp := filepath.Join(backing, b)
	f, err := os.OpenFile(bp, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	// Past the end of file, so the page holding the end is freed too
	// and the backing file reports no data after from.
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, fi.Size()-from+1<<16)
	f.Close()
	if err != nil {
		t.Fatalf("punching holes in the backing file: %v", err)
	}

	c, done := openVaultFile(t, v, root, "punched", unix.O_RDONLY)
	d, err := c.SeekData(2 * 4096)
	if err == nil {
		h, herr := c.SeekHole(d)
		if herr == nil && h <= d {
			t.Errorf("SeekData(%d) = %d, SeekHole(%d) = %d: no progress", 2*4096, d, d, h)
		}
	} else if !errors.Is(err, vault.ErrCorrupt) {
		t.Errorf("SeekData in the punched range: %v, want corruption", err)
	}
	done()

	m := mountVault(t, v, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	out, err := exec.CommandContext(ctx, cp, "--sparse=always", filepath.Join(m.dir, "punched"), filepath.Join(t.TempDir(), "copy")).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cp --sparse=always did not finish: %s", out)
	}
	if err == nil {
		t.Errorf("cp --sparse=always of a file with a punched last chunk succeeded")
	}
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

// TestRescuedStrayShowsInMount moves a file's backing entry into another
// directory, where its name no longer decrypts, rescues it as fsck
// --repair does, and reads it back through a mount from lost+found.
func TestRescuedStrayShowsInMount(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{})
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Mkdir("a", 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := root.OpenDir("a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	data := newPlainGen(3).bytes(10000)
	b := putBacking(t, a, "x", sealedBacking(t, v, data))
	ab, err := root.BackingName("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(backing, ab, b), filepath.Join(backing, b)); err != nil {
		t.Fatal(err)
	}
	var moved []vault.Rescued
	err = v.Walk(func(w vault.WalkEntry) error {
		if w.Stray {
			r, err := v.RescueStray(w)
			moved = append(moved, r...)
			return err
		}
		return w.Err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != 1 || moved[0].To != "/lost+found/"+b {
		t.Fatalf("rescued %+v, want %s moved to /lost+found", moved, b)
	}
	m := mountVault(t, v, Options{})
	got, err := os.ReadFile(filepath.Join(m.dir, "lost+found", b))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading the rescued file through the mount: %d bytes, %v", len(got), err)
	}
	if err := v.Walk(func(w vault.WalkEntry) error { return w.Err }); err != nil {
		t.Errorf("walk after the rescue: %v", err)
	}
}
