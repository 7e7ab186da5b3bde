package vault

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSharedStorageWaitsForDirIV: another mount has made a directory
// but not yet its IV; with shared storage opening it waits for the IV
// (and adopts it), without it the missing IV is corruption.
func TestSharedStorageWaitsForDirIV(t *testing.T) {
	for _, shared := range []bool{false, true} {
		v := newTestVault(t, CreateOptions{})
		v.SetSharedStorage(shared)
		root, err := v.OpenRoot()
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		b, err := root.PrepareName("new")
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(v.Dir(), b)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		iv := []byte("0123456789abcdef")
		go func() {
			time.Sleep(50 * time.Millisecond)
			os.WriteFile(filepath.Join(dir, DirIVName), iv, 0o400)
		}()
		d, err := root.OpenDir("new")
		if !shared {
			if err == nil {
				d.Close()
				t.Error("a directory without its IV opened without shared storage")
			}
			time.Sleep(100 * time.Millisecond) // let the writer finish
			continue
		}
		if err != nil {
			t.Fatalf("shared storage: %v", err)
		}
		if string(d.IV()) != string(iv) {
			t.Errorf("IV %q, want the other mount's %q", d.IV(), iv)
		}
		d.Close()
	}
}
