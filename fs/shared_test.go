package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fernetfs/fernetfs/vault"
)

// sharedPair is two --shared-storage mounts of one vault, each with
// its own unlocked Vault, as two machines would have.
type sharedPair struct {
	v   [2]*vault.Vault
	mnt [2]string
}

// mountSharedPair mounts backing[0] and backing[1], two paths to one
// vault (the same local directory, or two clients of one distributed
// filesystem), with shared storage on.
func mountSharedPair(t *testing.T, backing [2]string) *sharedPair {
	t.Helper()
	requireFuse(t)
	p := &sharedPair{}
	for i := range 2 {
		v, err := vault.Unlock(backing[i], vault.Credential{Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		v.SetSharedStorage(true)
		p.v[i] = v
		p.mnt[i] = mountVault(t, v, Options{}).dir
	}
	return p
}

// localSharedPair makes a vault and mounts it twice.
func localSharedPair(t *testing.T) *sharedPair {
	t.Helper()
	backing, _ := newTestVault(t, vault.CreateOptions{})
	return mountSharedPair(t, [2]string{backing, backing})
}

func TestSharedInterleavedWriters(t *testing.T) { testInterleavedWriters(t, localSharedPair(t)) }
func TestSharedAppend(t *testing.T)             { testSharedAppend(t, localSharedPair(t)) }
func TestSharedNamespace(t *testing.T)          { testSharedNamespace(t, localSharedPair(t)) }

// checkVault verifies every name and chunk of the vault, as fsck does.
func checkVault(t *testing.T, v *vault.Vault) {
	t.Helper()
	err := v.Walk(func(w vault.WalkEntry) error {
		if w.Err != nil {
			t.Errorf("fsck: %s: %v", w.Path, w.Err)
			return nil
		}
		if !w.Info.Mode().IsRegular() {
			return nil
		}
		c, f, err := w.Parent.OpenContent(w.Backing, w.Path)
		if err != nil {
			t.Errorf("fsck: %s: %v", w.Path, err)
			return nil
		}
		defer f.Close()
		defer c.Close()
		if err := c.Check(nil); err != nil {
			t.Errorf("fsck: %s: %v", w.Path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// block is the content writer w puts in 4 KiB block i.
func block(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("<block %04d>", i)), 4096/12+1)[:4096]
}

// testInterleavedWriters: two mounts write alternate 4 KiB blocks of
// one file (mount 0 the even ones, mount 1 the odd), fsyncing every 16
// blocks; every block must survive, seen from both sides.
func testInterleavedWriters(t *testing.T, p *sharedPair) {
	const perWriter = 200
	name := "interleaved"
	if err := os.WriteFile(filepath.Join(p.mnt[0], name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(filepath.Join(p.mnt[w], name), os.O_WRONLY, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for k := range perWriter {
				i := 2*k + w
				if _, err := f.WriteAt(block(i), int64(i)*4096); err != nil {
					errs <- fmt.Errorf("writer %d block %d: %w", w, i, err)
					return
				}
				if k%16 == 15 {
					if err := f.Sync(); err != nil {
						errs <- fmt.Errorf("writer %d fsync: %w", w, err)
						return
					}
				}
			}
			errs <- f.Sync()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for side := range 2 {
		data, err := os.ReadFile(filepath.Join(p.mnt[side], name))
		if err != nil {
			t.Fatalf("side %d: %v", side, err)
		}
		if len(data) != 2*perWriter*4096 {
			t.Errorf("side %d: %d bytes, want %d", side, len(data), 2*perWriter*4096)
		}
		wrong := 0
		for i := range 2 * perWriter {
			if (i+1)*4096 > len(data) || !bytes.Equal(data[i*4096:(i+1)*4096], block(i)) {
				wrong++
			}
		}
		if wrong != 0 {
			t.Errorf("side %d: %d of %d blocks wrong", side, wrong, 2*perWriter)
		}
	}
	checkVault(t, p.v[0])
}

// testSharedAppend: two mounts append fixed-size records to one file
// with O_APPEND; every record must be there, whole, exactly once.
func testSharedAppend(t *testing.T, p *sharedPair) {
	const perWriter, recLen = 200, 100
	name := "log"
	if err := os.WriteFile(filepath.Join(p.mnt[0], name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	record := func(w, k int) []byte {
		r := []byte(fmt.Sprintf("writer %d record %04d ", w, k))
		return append(r, bytes.Repeat([]byte{'a' + byte(w)}, recLen-len(r)-1)...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(filepath.Join(p.mnt[w], name), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for k := range perWriter {
				if _, err := f.Write(append(record(w, k), '\n')); err != nil {
					errs <- fmt.Errorf("writer %d record %d: %w", w, k, err)
					return
				}
			}
			errs <- f.Sync()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for side := range 2 {
		data, err := os.ReadFile(filepath.Join(p.mnt[side], name))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != 2*perWriter*recLen {
			t.Errorf("side %d: %d bytes, want %d", side, len(data), 2*perWriter*recLen)
		}
		seen := map[string]int{}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			seen[string(line)]++
		}
		missing := 0
		for w := range 2 {
			for k := range perWriter {
				if seen[string(record(w, k))] != 1 {
					missing++
				}
			}
		}
		if missing != 0 {
			t.Errorf("side %d: %d of %d records missing, torn or repeated", side, missing, 2*perWriter)
		}
	}
	checkVault(t, p.v[0])
}

// testSharedNamespace: creates, renames and unlinks in one directory
// from both mounts, a write fsync'd on one side read on the other, and
// two simultaneous mkdirs of one new directory.
func testSharedNamespace(t *testing.T, p *sharedPair) {
	var wg sync.WaitGroup
	for side := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := p.mnt[side]
			for k := range 30 {
				n := filepath.Join(dir, fmt.Sprintf("s%d-%02d", side, k))
				if err := os.WriteFile(n, []byte(n), 0o644); err != nil {
					t.Error(err)
					return
				}
				switch k % 3 {
				case 1:
					if err := os.Rename(n, n+"-renamed"); err != nil {
						t.Error(err)
					}
				case 2:
					if err := os.Remove(n); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	views := [2][]string{listNames(t, p.mnt[0]), listNames(t, p.mnt[1])}
	if !slices.Equal(views[0], views[1]) || len(views[0]) != 40 {
		t.Errorf("views differ or wrong count (want 40):\n%q\n%q", views[0], views[1])
	}
	for _, n := range views[0] {
		got, err := os.ReadFile(filepath.Join(p.mnt[1], n))
		if err != nil || len(got) == 0 {
			t.Errorf("%s from side 1: %q, %v", n, got, err)
		}
	}

	// A write fsync'd on one side is visible on the other within 1 s,
	// also through a handle that was open before it.
	other, err := os.Open(filepath.Join(p.mnt[1], views[0][0]))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if old, err := io.ReadAll(other); err != nil || len(old) == 0 {
		t.Fatalf("side 1 reads %q, %v", old, err)
	}
	if _, err := os.Stat(filepath.Join(p.mnt[1], views[0][0])); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(p.mnt[0], views[0][0]), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("fresh from side 0")
	if _, err := f.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Nothing caches attributes another machine may change: a stat
	// right after the fsync sees the new size.
	if fi, err := os.Stat(filepath.Join(p.mnt[1], views[0][0])); err != nil || fi.Size() != int64(len(want)) {
		t.Errorf("side 1 stats %v, %v after side 0's fsync; want size %d", fi.Size(), err, len(want))
	}
	deadline := time.Now().Add(time.Second)
	for {
		buf := make([]byte, 100)
		n, _ := other.ReadAt(buf, 0)
		if bytes.Equal(buf[:n], want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("side 1 still reads %q a second after side 0's fsync", buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Two mounts make one new directory at once: one wins, the other
	// sees EEXIST, and names made inside from both sides decrypt.
	var mk [2]error
	for side := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mk[side] = os.Mkdir(filepath.Join(p.mnt[side], "both"), 0o755)
		}()
	}
	wg.Wait()
	for side, err := range mk {
		if err != nil && !errors.Is(err, os.ErrExist) {
			t.Errorf("mkdir on side %d: %v", side, err)
		}
	}
	if mk[0] != nil && mk[1] != nil {
		t.Errorf("both mkdirs failed: %v, %v", mk[0], mk[1])
	}
	for side := range 2 {
		if err := os.WriteFile(filepath.Join(p.mnt[side], "both", fmt.Sprint("from", side)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for side := range 2 {
		if got := listNames(t, filepath.Join(p.mnt[side], "both")); !slices.Equal(got, []string{"from0", "from1"}) {
			t.Errorf("side %d lists %q in the new directory", side, got)
		}
	}
	checkVault(t, p.v[0])
}

// TestSharedMmap: files on a --shared-storage mount (direct I/O) can
// still be mapped, and a change made through a mapping and msync'd is
// read on the other mount.
func TestSharedMmap(t *testing.T) {
	p := localSharedPair(t)
	name := filepath.Join(p.mnt[0], "mapped")
	const size = 10000
	if err := os.WriteFile(name, mmapPattern(size, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	// The mapping is made in a child process: a page fault on a mount
	// this process serves would wait for a READ that the Go runtime,
	// stopping the world for a collection, never lets it answer.
	runHelper(t, "mmap-shared", name, strconv.Itoa(size), "7")
	expectContent(t, filepath.Join(p.mnt[1], "mapped"), mmapPattern(size, 7))
}

// TestSharedHardLink: hard links work on shared storage (content locks
// are on the backing inode, which both names share): a write through
// one name on one mount is read through the other name on the other.
func TestSharedHardLink(t *testing.T) {
	p := localSharedPair(t)
	if err := os.WriteFile(filepath.Join(p.mnt[0], "one"), []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(p.mnt[0], "one"), filepath.Join(p.mnt[0], "two")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.mnt[1], "two"), []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRead(t, filepath.Join(p.mnt[0], "one"), "second")
	if fi, err := os.Stat(filepath.Join(p.mnt[1], "one")); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Errorf("stat: %v, %v; want 2 links", fi, err)
	}
}
