package fs

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// TestMkdirThenUse uses each new directory at once, through the
// directory Mkdir opened and handed to the new node, then checks after a
// remount (and with fsck) that every name was encrypted under the IV on
// disk and landed in the directory that was made, also after a rename or
// an rmdir and mkdir of the same name.
func TestMkdirThenUse(t *testing.T) {
	_, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	long := strings.Repeat("L", 200)
	want := map[string]string{}
	write := func(rel, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(m.dir, rel), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		want[rel] = data
	}
	mkdir := func(rel string, mode os.FileMode) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(m.dir, rel), mode); err != nil {
			t.Fatal(err)
		}
		want[rel] = "/"
	}
	mkdir("a", 0o755)
	write("a/f", "one")
	write("a/"+long, "long")
	mkdir("a/b", 0o755)
	write("a/b/g", "two")
	mkdir("ro", 0o500)
	write("ro/f", "three")
	mkdir("moved", 0o755)
	if err := os.Rename(filepath.Join(m.dir, "moved"), filepath.Join(m.dir, "a", "renamed")); err != nil {
		t.Fatal(err)
	}
	delete(want, "moved")
	want["a/renamed"] = "/"
	write("a/renamed/h", "four")
	mkdir("again", 0o755)
	if err := os.Remove(filepath.Join(m.dir, "again")); err != nil {
		t.Fatal(err)
	}
	mkdir("again", 0o755)
	write("again/i", "five")
	if err := os.Symlink("target", filepath.Join(m.dir, "a", "b", "sym")); err != nil {
		t.Fatal(err)
	}

	m.unmount(t)
	checkVault(t, v)
	m2 := mountVault(t, v, Options{})
	got := map[string]string{}
	err := filepath.WalkDir(m2.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == m2.dir {
			return err
		}
		rel, _ := filepath.Rel(m2.dir, p)
		switch {
		case d.IsDir():
			got[rel] = "/"
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil || target != "target" {
				t.Errorf("%s: link %q %v", rel, target, err)
			}
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		keys := func(m map[string]string) []string {
			var k []string
			for n, v := range m {
				k = append(k, n+"="+v)
			}
			slices.Sort(k)
			return k
		}
		t.Fatalf("after remount:\n got %q\nwant %q", keys(got), keys(want))
	}
}

// TestSharedMkdirThenUse: a directory made and filled through one
// shared-storage mount is read through the other, which has only the IV
// on disk to go by.
func TestSharedMkdirThenUse(t *testing.T) {
	p := localSharedPair(t)
	dir := filepath.Join(p.mnt[0], "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(p.mnt[1], "d"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "f" {
		t.Fatalf("other mount lists %v, %v", ents, err)
	}
	data, err := os.ReadFile(filepath.Join(p.mnt[1], "d", "f"))
	if err != nil || string(data) != "x" {
		t.Fatalf("other mount reads %q, %v", data, err)
	}
}
