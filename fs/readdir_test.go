package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestLargeListing lists a directory that takes many reads of the
// backing directory through the mount: every file once, a new listing
// shows a file created since, and a handle read half before that create
// and half after lists every file once.
func TestLargeListing(t *testing.T) {
	mnt, _, _ := mountTest(t, Options{})
	const n = 1500
	for i := range n {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("file-with-a-longer-name-%05d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	count := func() map[string]int {
		t.Helper()
		ents, err := os.ReadDir(mnt)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range ents {
			seen[e.Name()]++
		}
		return seen
	}
	seen := count()
	if len(seen) != n {
		t.Fatalf("listed %d names, want %d", len(seen), n)
	}
	for name, k := range seen {
		if k != 1 {
			t.Errorf("%s listed %d times", name, k)
		}
	}
	f, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, err := f.Readdirnames(n / 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if seen := count(); len(seen) != n+1 || seen["new"] != 1 {
		t.Errorf("after a create: %d names, new listed %d times", len(seen), seen["new"])
	}
	rest, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, name := range append(first, rest...) {
		if all[name] {
			t.Errorf("%s listed twice by one handle", name)
		}
		all[name] = true
	}
	if len(all) < n {
		t.Errorf("one handle listed %d names, want at least %d", len(all), n)
	}
}
