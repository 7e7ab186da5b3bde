package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fernetfs/fernetfs/vault"
)

// TestKernelCacheSettings checks what the kernel is allowed to cache:
// entries, attributes and negative lookups for cacheTimeout
// on a default mount (or the tests' override), nothing at all with
// shared storage, where other machines change BACKING.
func TestKernelCacheSettings(t *testing.T) {
	for _, c := range []struct {
		name   string
		shared bool
		opts   Options
		want   time.Duration
	}{
		{"default", false, Options{}, cacheTimeout},
		{"override", false, Options{cacheTimeout: 250 * time.Millisecond}, 250 * time.Millisecond},
		{"shared", true, Options{}, 0},
		{"shared with override", true, Options{cacheTimeout: time.Second}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, v := newTestVault(t, vault.CreateOptions{})
			v.SetSharedStorage(c.shared)
			rn, err := newRoot(v, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer rn.OnForget()
			o := rn.mountOptions()
			for what, d := range map[string]*time.Duration{
				"entry": o.EntryTimeout, "attr": o.AttrTimeout, "negative": o.NegativeTimeout,
			} {
				if d == nil || *d != c.want {
					t.Errorf("%s timeout = %v, want %v", what, d, c.want)
				}
			}
		})
	}
}

// TestOutOfBandChangesShow changes BACKING behind a mount's back (as a
// sync tool does) after the kernel cached a listing, entries and a
// negative lookup, with a short cache timeout: once it has passed, the
// listing, lookups and stats show the changes. Nothing is asserted
// about how long that takes; the test only waits for it.
func TestOutOfBandChangesShow(t *testing.T) {
	_, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{cacheTimeout: 200 * time.Millisecond})
	mnt := m.dir
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(mnt, "a.txt"), "a")
	mustWrite(t, filepath.Join(mnt, "d", "x"), "x")
	copyName := conflictName("a.txt", stLabel)
	// Fill the caches: listings, entries, and a negative entry for
	// the name the conflict copy will have.
	for range 2 {
		listNames(t, mnt)
		listNames(t, filepath.Join(mnt, "d"))
	}
	if _, err := os.Stat(filepath.Join(mnt, "d", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mnt, copyName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of the conflict copy before it exists: %v", err)
	}

	bp := func(p string) string {
		t.Helper()
		b, err := v.ResolvePath(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	copyBacking(t, bp("a.txt"), bp("a.txt")+"."+stLabel)
	if err := os.Remove(bp("d/x")); err != nil {
		t.Fatal(err)
	}

	var last string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		root, sub := listNames(t, mnt), listNames(t, filepath.Join(mnt, "d"))
		_, errCopy := os.Stat(filepath.Join(mnt, copyName))
		_, errX := os.Stat(filepath.Join(mnt, "d", "x"))
		if slices.Contains(root, copyName) && errCopy == nil && len(sub) == 0 && errors.Is(errX, os.ErrNotExist) {
			break
		}
		last = fmt.Sprintf("root %q, d %q, stat copy: %v, stat d/x: %v", root, sub, errCopy, errX)
		if time.Now().After(deadline) {
			t.Fatalf("changes behind the mount's back never showed: %s", last)
		}
	}
	mustRead(t, filepath.Join(mnt, copyName), "a")
}
