package fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// TestKernelCacheSettings checks what the kernel is allowed to cache:
// entries, attributes, negative lookups and listings for cacheTimeout
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
			fh, flags, errno := rn.OpendirHandle(context.Background(), 0)
			if errno != 0 {
				t.Fatalf("opendir: %v", errno)
			}
			fh.(*dirHandle).Releasedir(context.Background(), 0)
			const cached = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
			if want := uint32(cached); c.want == 0 {
				if flags&cached != 0 {
					t.Errorf("opendir flags %#x let the kernel cache the listing", flags)
				}
			} else if flags&want != want {
				t.Errorf("opendir flags %#x, want CACHE_DIR|KEEP_CACHE", flags)
			}
		})
	}
}

// TestListingFollowsChangesThroughMount lists a directory after every
// kind of change made through the mount, with the kernel keeping
// listings (FOPEN_CACHE_DIR): each change must drop the kernel's copy,
// so the listing is always the model's. The directory is large enough
// that its cached listing spans several pages, and holds long names
// (stored in sidecar files) and a hidden directory IV.
func TestListingFollowsChangesThroughMount(t *testing.T) {
	_, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	d, e := filepath.Join(m.dir, "d"), filepath.Join(m.dir, "e")
	for _, p := range []string{d, e} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	model := map[string]bool{}
	for i := range 300 {
		name := fmt.Sprintf("file-%03d-%s", i, strings.Repeat("x", 40))
		mustWrite(t, filepath.Join(d, name), "")
		model[name] = true
	}
	long := strings.Repeat("L", 220)
	check := func(step string) {
		t.Helper()
		var want []string
		for n := range model {
			want = append(want, n)
		}
		slices.Sort(want)
		// Twice: the first listing after a change fills the
		// kernel's cache, the second is served from it.
		for range 2 {
			if got := listNames(t, d); !slices.Equal(got, want) {
				t.Fatalf("after %s: listing has %d names, want %d; differences: %v", step, len(got), len(want), diff(got, want))
			}
		}
	}
	check("creating")
	ops := []struct {
		step string
		do   func() error
		add  []string
		del  []string
	}{
		{"create", func() error { return os.WriteFile(filepath.Join(d, "new"), []byte("n"), 0o644) }, []string{"new"}, nil},
		{"create long name", func() error { return os.WriteFile(filepath.Join(d, long), nil, 0o644) }, []string{long}, nil},
		{"unlink", func() error { return os.Remove(filepath.Join(d, "file-000-"+strings.Repeat("x", 40))) }, nil, []string{"file-000-" + strings.Repeat("x", 40)}},
		{"rename within", func() error { return os.Rename(filepath.Join(d, "new"), filepath.Join(d, "renamed")) }, []string{"renamed"}, []string{"new"}},
		{"rename long name", func() error { return os.Rename(filepath.Join(d, long), filepath.Join(d, long+"2")) }, []string{long + "2"}, []string{long}},
		{"rename over", func() error {
			return os.Rename(filepath.Join(d, "renamed"), filepath.Join(d, "file-001-"+strings.Repeat("x", 40)))
		}, nil, []string{"renamed"}},
		{"rename out", func() error {
			return os.Rename(filepath.Join(d, "file-002-"+strings.Repeat("x", 40)), filepath.Join(e, "moved"))
		}, nil, []string{"file-002-" + strings.Repeat("x", 40)}},
		{"rename in", func() error { return os.Rename(filepath.Join(e, "moved"), filepath.Join(d, "back")) }, []string{"back"}, nil},
		{"exchange", func() error {
			if err := os.WriteFile(filepath.Join(e, "other"), nil, 0o644); err != nil {
				return err
			}
			return unix.Renameat2(unix.AT_FDCWD, filepath.Join(e, "other"), unix.AT_FDCWD, filepath.Join(d, "back"), unix.RENAME_EXCHANGE)
		}, nil, nil},
		{"mkdir", func() error { return os.Mkdir(filepath.Join(d, "sub"), 0o755) }, []string{"sub"}, nil},
		{"symlink", func() error { return os.Symlink("target", filepath.Join(d, "sym")) }, []string{"sym"}, nil},
		{"link", func() error { return os.Link(filepath.Join(d, "back"), filepath.Join(d, "hard")) }, []string{"hard"}, nil},
		{"rmdir", func() error { return os.Remove(filepath.Join(d, "sub")) }, nil, []string{"sub"}},
		{"unlink long name", func() error { return os.Remove(filepath.Join(d, long+"2")) }, nil, []string{long + "2"}},
		{"mknod fifo", func() error { return unix.Mkfifo(filepath.Join(d, "fifo"), 0o644) }, []string{"fifo"}, nil},
	}
	for _, op := range ops {
		if err := op.do(); err != nil {
			t.Fatalf("%s: %v", op.step, err)
		}
		for _, n := range op.add {
			model[n] = true
		}
		for _, n := range op.del {
			delete(model, n)
		}
		check(op.step)
	}

	// rewinddir on a stream opened before a change shows the change,
	// as on a local filesystem.
	f, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadDir(-1); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(d, "during"), "")
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	ents, err := f.ReadDir(-1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return e.Name() == "during" }) {
		t.Errorf("rewound listing of %d entries lacks a file created while the directory was open", len(ents))
	}
}

// diff names what is in only one of two sorted lists (for messages).
func diff(got, want []string) []string {
	var out []string
	for _, n := range got {
		if _, ok := slices.BinarySearch(want, n); !ok {
			out = append(out, "+"+n)
		}
	}
	for _, n := range want {
		if _, ok := slices.BinarySearch(got, n); !ok {
			out = append(out, "-"+n)
		}
	}
	return out
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
