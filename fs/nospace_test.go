package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// smallTmpfs mounts a tmpfs of size bytes at a fresh directory, for a
// BACKING that fills up, and unmounts it in t.Cleanup. It needs root:
// the test skips without it, unless CI is set.
func smallTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("mounting a tmpfs needs root")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		// The vault's and the FUSE server's descriptors may close
		// just after the FUSE unmount; a lazy unmount then frees the
		// tmpfs when they do.
		for i := 0; unix.Unmount(dir, 0) != nil; i++ {
			if i == 20 {
				if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
					t.Errorf("unmount tmpfs %s: %v", dir, err)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return dir
}

// tmpfsVault creates a vault in a small tmpfs and mounts it.
func tmpfsVault(t *testing.T, size int) (*testMount, *vault.Vault) {
	t.Helper()
	requireFuse(t)
	backing := filepath.Join(smallTmpfs(t, size), "backing")
	if err := os.Mkdir(backing, 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, err := vault.Create(backing, testPassword, vault.CreateOptions{Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return mountVault(t, v, Options{}), v
}

// fillUp writes to a new file at path until the disk is full; it must
// end with ENOSPC.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte("filler "), 64<<10/7)
	for i := 0; ; i++ {
		if _, err = f.Write(buf); err != nil {
			break
		}
		if i > 1<<14 {
			t.Fatal("the disk never filled up")
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", err)
	}
	// Then in small steps, for the last pages.
	for err == nil || errors.Is(err, syscall.ENOSPC) {
		if _, err = f.Write(buf[:100]); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", err)
	}
}

// checkFiles compares every file in want with its content under dir.
func checkFiles(t *testing.T, dir string, want map[string][]byte, what string) {
	t.Helper()
	for name, w := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %s: %v", what, name, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("%s: %s: %d bytes, want %d (first difference at %d)", what, name, len(got), len(w), diffAt(got, w))
		}
	}
}

// fsckVault checks every content file of v offline, as fernetfs fsck
// does, and that each one holds what want says.
func fsckVault(t *testing.T, v *vault.Vault, want map[string][]byte) {
	t.Helper()
	seen := 0
	err := v.Walk(func(e vault.WalkEntry) error {
		if e.Err != nil {
			t.Errorf("fsck: %s: %v", e.Path, e.Err)
			return nil
		}
		if e.Info == nil || !e.Info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(e.BackingPath)
		if err != nil {
			return err
		}
		defer f.Close()
		c := v.OpenContent(f, e.Path)
		defer c.Close()
		if err := c.Check(nil); err != nil {
			t.Errorf("fsck: %s: %v", e.Path, err)
			return nil
		}
		w, ok := want[e.Path]
		if !ok {
			return nil
		}
		seen++
		got, err := io.ReadAll(io.NewSectionReader(c, 0, 1<<40))
		if err != nil {
			t.Errorf("fsck: reading %s: %v", e.Path, err)
		} else if !bytes.Equal(got, w) {
			t.Errorf("fsck: %s: %d bytes, want %d (first difference at %d)", e.Path, len(got), len(w), diffAt(got, w))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Errorf("fsck saw %d of the %d files", seen, len(want))
	}
}

// TestNoSpaceLosesNothing fills an 8 MiB tmpfs BACKING, then appends to,
// overwrites (data and holes), truncates and creates files on it. The
// writer must get ENOSPC (or a short write), never EIO, and every byte
// written before, in that file and all others, must read back unchanged
// through the mount, after a remount and offline, with every file
// passing fsck.
func TestNoSpaceLosesNothing(t *testing.T) {
	m, v := tmpfsVault(t, 8<<20)
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 9))
	want := map[string][]byte{}
	var names []string
	for i := range 12 {
		name := fmt.Sprintf("f%02d", i)
		data := make([]byte, 1+r.IntN(100<<10))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		if i%4 == 3 {
			// A sparse file: data, a hole, data.
			clear(data[len(data)/4 : 3*len(data)/4])
		}
		f, err := os.Create(filepath.Join(m.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 {
			_, err = f.WriteAt(data[:len(data)/4], 0)
			if err == nil {
				_, err = f.WriteAt(data[3*len(data)/4:], int64(3*len(data)/4))
			}
			if err == nil && len(data)/4 == 3*len(data)/4 {
				err = f.Truncate(int64(len(data)))
			}
		} else {
			_, err = f.Write(data)
		}
		if err == nil {
			err = f.Sync()
		}
		if err2 := f.Close(); err == nil {
			err = err2
		}
		if err != nil {
			t.Fatal(err)
		}
		want[name] = data
		names = append(names, name)
	}
	fillUp(t, filepath.Join(m.dir, "filler"))
	// The filler is intact too, whatever its last write left.
	filler, err := os.ReadFile(filepath.Join(m.dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	want["filler"] = filler

	errnoOf := func(err error) error {
		var e syscall.Errno
		if errors.As(err, &e) {
			return e
		}
		return err
	}
	failed := 0
	for step := range 60 {
		name := names[r.IntN(len(names))]
		path := filepath.Join(m.dir, name)
		old := want[name]
		var what string
		var err error
		switch op := r.IntN(6); op {
		case 0, 1: // append
			p := bytes.Repeat([]byte{byte(step)}, 1+r.IntN(20000))
			what = fmt.Sprintf("append %d", len(p))
			var f *os.File
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
				var n int
				n, err = f.Write(p)
				want[name] = append(bytes.Clone(old), p[:n]...)
				f.Close()
			}
		case 2: // overwrite, maybe into the hole, maybe past the end
			p := bytes.Repeat([]byte{byte(step) | 1}, 1+r.IntN(20000))
			off := r.Int64N(int64(len(old)) + 1)
			what = fmt.Sprintf("write %d at %d", len(p), off)
			var f *os.File
			if f, err = os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				var n int
				n, err = pwriteAll(f, p, off)
				w := bytes.Clone(old)
				if end := off + int64(n); end > int64(len(w)) {
					w = append(w, make([]byte, end-int64(len(w)))...)
				}
				copy(w[off:], p[:n])
				want[name] = w
				f.Close()
			}
		case 3: // truncate up
			size := int64(len(old)) + 1 + r.Int64N(20000)
			what = fmt.Sprintf("truncate up to %d", size)
			if err = os.Truncate(path, size); err == nil {
				want[name] = append(bytes.Clone(old), make([]byte, size-int64(len(old)))...)
			}
		case 4: // truncate down (frees space, mostly succeeds)
			size := r.Int64N(int64(len(old)) + 1)
			what = fmt.Sprintf("truncate down to %d", size)
			if err = os.Truncate(path, size); err == nil {
				want[name] = old[:size]
			}
		case 5: // a new file
			name = fmt.Sprintf("new%02d", step)
			path = filepath.Join(m.dir, name)
			p := bytes.Repeat([]byte{byte(step)}, 1+r.IntN(20000))
			what = fmt.Sprintf("create with %d bytes", len(p))
			var f *os.File
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				var n int
				n, err = f.Write(p)
				want[name] = bytes.Clone(p[:n])
				names = append(names, name)
				f.Close()
			}
		}
		if err != nil {
			failed++
			if errnoOf(err) != syscall.ENOSPC {
				t.Fatalf("step %d: %s %s: %v, want ENOSPC", step, what, name, err)
			}
		}
		checkFiles(t, m.dir, map[string][]byte{name: want[name]}, fmt.Sprintf("step %d: after %s %s (%v)", step, what, name, err))
	}
	if failed == 0 {
		t.Fatal("nothing failed for lack of space")
	}
	t.Logf("%d of 60 operations failed with ENOSPC", failed)
	checkFiles(t, m.dir, want, "through the mount")
	m.unmount(t)
	fsckVault(t, v, want)
	m2 := mountVault(t, v, Options{})
	checkFiles(t, m2.dir, want, "after remount")
}

// TestFallocateReserves allocates 5 MiB of a file on an 8 MiB tmpfs
// BACKING, fills the disk from another file, then writes the whole
// allocated range: the writes must not fail for lack of space (or the
// fallocate itself must have failed, with EOPNOTSUPP).
func TestFallocateReserves(t *testing.T) {
	for _, mode := range []uint32{0, unix.FALLOC_FL_KEEP_SIZE} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			m, v := tmpfsVault(t, 8<<20)
			path := filepath.Join(m.dir, "f")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			head := bytes.Repeat([]byte("head"), 300)
			if _, err := f.Write(head); err != nil {
				t.Fatal(err)
			}
			const size = 5 << 20
			if err := unix.Fallocate(int(f.Fd()), mode, 0, size); err != nil {
				if err == unix.EOPNOTSUPP {
					t.Skip("backing cannot reserve: fallocate fails with EOPNOTSUPP, as it should")
				}
				t.Fatalf("fallocate: %v", err)
			}
			fillUp(t, filepath.Join(m.dir, "filler"))
			want := make([]byte, size)
			for i := range want {
				want[i] = byte(i*7 + i/5000)
			}
			for off := 0; off < size; off += 1 << 20 {
				if _, err := f.WriteAt(want[off:off+1<<20], int64(off)); err != nil {
					t.Fatalf("writing the allocated range at %d: %v", off, err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			checkFiles(t, m.dir, map[string][]byte{"f": want}, "after filling")
			f.Close()
			m.unmount(t)
			fsckVault(t, v, map[string][]byte{"f": want})
		})
	}
}

// testSeed is a random seed, logged, or FERNETFS_TEST_SEED to replay one.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("FERNETFS_TEST_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("FERNETFS_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with FERNETFS_TEST_SEED=%d)", seed, seed)
	return seed
}

// pwriteAll is f.WriteAt, but counts what a pwrite wrote before it
// failed (os.File.WriteAt drops that count).
func pwriteAll(f *os.File, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pwrite(int(f.Fd()), p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
