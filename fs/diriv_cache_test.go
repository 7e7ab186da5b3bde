package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fernetfs/fernetfs/vault"
)

// TestDirIVCacheMount: a directory whose fd the mount closed (here by
// its bound on open directories, as when the kernel forgets the node)
// is opened again with the IV remembered from when it was last read,
// unless the directory changed since: a new entry in it (through the
// mount while it was open, or an IV file renamed into place behind the
// mount's back) makes the next open read the IV file. Which IV the
// mount used shows in the backing name it gives a new file. With
// shared storage nothing is remembered.
func TestDirIVCacheMount(t *testing.T) {
	// settled waits out vault's dirIVSettle (3 s): a directory changed
	// more recently is not remembered.
	settled := func() { time.Sleep(3200 * time.Millisecond) }
	for _, shared := range []bool{false, true} {
		t.Run("shared="+strconv.FormatBool(shared), func(t *testing.T) {
			t.Parallel()
			backing, v := newTestVault(t, vault.CreateOptions{})
			v.SetSharedStorage(shared)
			mnt := mountVault(t, v, Options{maxOpenDirs: 2}).dir
			for i := range 4 {
				if err := os.Mkdir(filepath.Join(mnt, "e"+strconv.Itoa(i)), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			d := filepath.Join(mnt, "d")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			root, err := v.OpenRoot()
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			db, err := root.BackingName("d")
			if err != nil {
				t.Fatal(err)
			}
			bd := filepath.Join(backing, db)
			// evict has the mount close d's fd by opening the others
			// (two open, each skipped once while recent or in use). A
			// use can outlast its request (the kernel sends RELEASEDIR
			// in the background), so it lists them until no fd of this
			// process is d's backing directory.
			evict := func() {
				t.Helper()
				for range 200 {
					for i := range 4 {
						if _, err := os.ReadDir(filepath.Join(mnt, "e"+strconv.Itoa(i))); err != nil {
							t.Fatal(err)
						}
					}
					if backingFds(t, bd) == 0 {
						return
					}
				}
				t.Fatalf("the mount keeps %s open", bd)
			}
			ivFile := filepath.Join(bd, vault.DirIVName)
			iv1, err := os.ReadFile(ivFile)
			if err != nil {
				t.Fatal(err)
			}
			// create makes name through the mount and reports whether
			// its backing name is sealed under iv.
			create := func(name string, iv []byte) bool {
				t.Helper()
				if err := os.WriteFile(filepath.Join(d, name), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				b, _, err := v.EncryptName(iv, name)
				if err != nil {
					t.Fatal(err)
				}
				_, err = os.Lstat(filepath.Join(bd, b))
				return err == nil
			}
			if !create("f", iv1) {
				t.Fatal("f not sealed under the directory's IV")
			}
			// Read the IV (the directory unchanged while open), then
			// let the fd go: now it is remembered.
			evict()
			settled()
			if _, err := os.ReadDir(d); err != nil {
				t.Fatal(err)
			}
			evict()
			iv2 := bytes.Repeat([]byte{0xa5}, vault.DirIVLen)
			f, err := os.OpenFile(ivFile, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(iv2, 0); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got := create("g", iv1); got == shared {
				t.Fatalf("after a rewrite in place, g sealed under the remembered IV: %v, want %v", got, !shared)
			}
			// g was made while open: the next open reads the file.
			evict()
			if !create("h", iv2) {
				t.Fatal("after a change while open, h not sealed under the IV in the file")
			}
			// Remembered again, then a new IV file renamed into place.
			evict()
			settled()
			if _, err := os.ReadDir(d); err != nil {
				t.Fatal(err)
			}
			evict()
			iv3 := bytes.Repeat([]byte{0x3c}, vault.DirIVLen)
			tmp := filepath.Join(bd, "iv.tmp")
			if err := os.WriteFile(tmp, iv3, 0o400); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, ivFile); err != nil {
				t.Fatal(err)
			}
			if !create("k", iv3) {
				t.Fatal("after a new IV file, k not sealed under it")
			}
		})
	}
}
