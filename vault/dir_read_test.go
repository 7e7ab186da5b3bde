package vault

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWalkEntryReaders: every entry Walk hands out can be read through
// its parent's descriptor alone (Depth, Parent, Backing, Dir), and
// Dir.OpenContent refuses what is not a regular file (a symlink names its
// target; a fifo planted in the backing neither hangs nor is read).
func TestWalkEntryReaders(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	buildTree(t, v)
	root := openRoot(t, v)
	fb, _ := root.PrepareName("fifo")
	if err := unix.Mkfifo(filepath.Join(v.Dir(), fb), 0o644); err != nil {
		t.Fatal(err)
	}
	seen := 0
	err := v.Walk(func(e WalkEntry) error {
		if e.Err != nil {
			t.Fatalf("%q: %v", e.Path, e.Err)
		}
		if want := strings.Count(e.Path, "/") + 1; e.Path != "" && e.Depth != want || e.Path == "" && e.Depth != 0 {
			t.Errorf("%q: depth %d", e.Path, e.Depth)
		}
		if e.Path == "" {
			if e.Parent != nil || e.Dir == nil {
				t.Errorf("root: Parent %v Dir %v", e.Parent, e.Dir)
			}
			return nil
		}
		seen++
		mode := e.Info.Mode()
		if mode.IsDir() != (e.Dir != nil) {
			t.Errorf("%q: Dir %v for mode %v", e.Path, e.Dir, mode)
		}
		c, f, err := e.Parent.OpenContent(e.Backing, e.Path)
		switch {
		case mode.IsRegular():
			if err != nil {
				t.Fatalf("%q: %v", e.Path, err)
			}
			if _, err := io.ReadAll(io.NewSectionReader(c, 0, 1<<20)); err != nil {
				t.Errorf("%q: %v", e.Path, err)
			}
			c.Close()
			f.Close()
		case mode&fs.ModeSymlink != 0:
			if !errors.Is(err, ErrIsSymlink) || !strings.Contains(err.Error(), `"../alpha.txt"`) {
				t.Errorf("%q: OpenContent: %v", e.Path, err)
			}
			if target, err := e.Parent.ReadSymlink(e.Backing); err != nil || target != "../alpha.txt" {
				t.Errorf("%q: ReadSymlink = %q, %v", e.Path, target, err)
			}
		default: // directories and the fifo
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%q (%v): OpenContent: %v", e.Path, mode, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 10 {
		t.Fatalf("walked %d entries, want 10", seen)
	}
}

// TestLookup: a path resolves to its parent directory and backing name;
// missing components, files used as directories and the root are told
// apart.
func TestLookup(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	buildTree(t, v)
	d, b, err := v.Lookup("/docs//./a.md")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := d.BackingName("a.md")
	if b != want || filepath.Base(d.path()) == filepath.Base(v.Dir()) {
		t.Errorf("Lookup gave %q in %s", b, d.path())
	}
	d.Close()
	if d, b, err := v.Lookup(""); err != nil || b != "." {
		t.Errorf("Lookup(root) = %q, %v", b, err)
	} else {
		d.Close()
	}
	if _, _, err := v.Lookup("docs/nope"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `"/docs/nope"`) {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := v.Lookup("docs/a.md/x"); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("file as directory: %v", err)
	}
}

// TestReadXattrs: user.* attributes are decrypted and sorted; one that
// does not decrypt is reported in its own entry without hiding the
// others; other namespaces are not the vault's and are left out.
func TestReadXattrs(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	b := createFile(t, root, "f")
	p := filepath.Join(v.Dir(), b)
	for _, kv := range [][2]string{{"user.b", "2"}, {"user.a", ""}} {
		n, err := v.EncryptXattrName(kv[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(p, n, v.EncryptXattrValue([]byte(kv[1])), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Setxattr(p, "user.not-a-token", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	unix.Setxattr(p, "trusted.other", []byte("x"), 0) // as root; skipped either way
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	xs, err := v.ReadXattrs(fd)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 3 {
		t.Fatalf("got %d xattrs: %+v", len(xs), xs)
	}
	if xs[0].Err == nil || !errors.Is(xs[0].Err, ErrCorrupt) || xs[0].Backing != "user.not-a-token" {
		t.Errorf("undecodable name: %+v", xs[0])
	}
	if xs[1].Name != "user.a" || xs[1].Err != nil || xs[1].Value == nil || len(xs[1].Value) != 0 {
		t.Errorf("user.a: %+v", xs[1])
	}
	if xs[2].Name != "user.b" || xs[2].Err != nil || string(xs[2].Value) != "2" {
		t.Errorf("user.b: %+v", xs[2])
	}
}

// TestNestedDirPathInErrors: a Dir keeps only its entry name and parent,
// and still names its whole backing path in errors, whether it was
// opened (OpenDir) or made (MkdirOpen), also after its parent is closed.
func TestNestedDirPathInErrors(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	b1, err := root.Mkdir("one", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	one, err := root.OpenDir("one")
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
	b2, two, err := one.MkdirOpen("two", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	one.Close()
	defer two.Close()
	want := filepath.Join(v.Dir(), b1, b2)
	if got := two.path(); got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	_, err = two.OpenDir("missing")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), strings.TrimSuffix(strings.TrimPrefix(want, "/"), "/")+"/") {
		t.Errorf("OpenDir(missing) = %v, want an error naming %s/...", err, want)
	}
}
