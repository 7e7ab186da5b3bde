package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// buildTree makes a nested tree with Mkdir and openat and returns its
// plaintext paths (files, dirs and a symlink) in Walk order.
func buildTree(t *testing.T, v *Vault) []string {
	t.Helper()
	root := openRoot(t, v)
	long := strings.Repeat("λ", 100) // 200 bytes: a long name
	createFile(t, root, "zeta.txt")
	createFile(t, root, "alpha.txt")
	docs := mkdir(t, root, "docs")
	createFile(t, docs, "b.md")
	createFile(t, docs, "a.md")
	deep := mkdir(t, docs, long)
	createFile(t, deep, "leaf")
	mkdir(t, deep, "empty")
	tok, err := v.EncryptSymlink("../alpha.txt")
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := docs.PrepareName("link")
	if err := unix.Symlinkat(tok, docs.Fd(), lb); err != nil {
		t.Fatal(err)
	}
	return []string{
		"", "alpha.txt", "docs", "docs/a.md", "docs/b.md", "docs/link",
		"docs/" + long, "docs/" + long + "/empty", "docs/" + long + "/leaf", "zeta.txt",
	}
}

func walkPaths(t *testing.T, v *Vault) ([]string, map[string]WalkEntry) {
	t.Helper()
	var paths []string
	ents := map[string]WalkEntry{}
	err := v.Walk(func(e WalkEntry) error {
		if e.Err != nil {
			t.Fatalf("%q: %v", e.Path, e.Err)
		}
		paths = append(paths, e.Path)
		ents[e.Path] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths, ents
}

func TestWalk(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintextNames=%v", plain), func(t *testing.T) {
			v := newTestVault(t, CreateOptions{PlaintextNames: plain})
			want := buildTree(t, v)
			got, ents := walkPaths(t, v)
			if !slices.Equal(got, want) {
				t.Fatalf("Walk order:\n got %q\nwant %q", got, want)
			}
			for p, e := range ents {
				st, err := os.Lstat(e.BackingPath)
				if err != nil {
					t.Fatalf("%q: backing %s: %v", p, e.BackingPath, err)
				}
				if st.Mode() != e.Info.Mode() || st.Size() != e.Info.Size() || !st.ModTime().Equal(e.Info.ModTime()) {
					t.Fatalf("%q: Info %v/%d, lstat %v/%d", p, e.Info.Mode(), e.Info.Size(), st.Mode(), st.Size())
				}
				if st.Sys().(*syscall.Stat_t).Ino != e.Info.Sys().(*syscall.Stat_t).Ino {
					t.Fatalf("%q: Sys() differs from lstat", p)
				}
				if p != "" && e.Info.Name() != filepath.Base(p) {
					t.Fatalf("%q: Info.Name() = %q", p, e.Info.Name())
				}
				if plain && e.BackingPath != filepath.Join(v.Dir(), p) {
					t.Fatalf("plaintext-name backing path %q for %q", e.BackingPath, p)
				}
				bp, err := v.ResolvePath(p)
				if err != nil || bp != e.BackingPath {
					t.Fatalf("ResolvePath(%q) = %q, %v; Walk says %q", p, bp, err, e.BackingPath)
				}
			}
			link := ents["docs/link"]
			if link.Info.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("link mode %v", link.Info.Mode())
			}
			tok, _ := os.Readlink(link.BackingPath)
			if target, err := v.DecryptSymlink(tok); err != nil || target != "../alpha.txt" {
				t.Fatalf("symlink target %q %v", target, err)
			}
			if !ents["docs"].Info.IsDir() || ents["docs/a.md"].Info.IsDir() {
				t.Fatal("IsDir wrong")
			}
		})
	}
}

func TestWalkReportsAndContinues(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	buildTree(t, v)
	root := openRoot(t, v)
	docs, _ := root.BackingName("docs")
	os.WriteFile(filepath.Join(v.Dir(), docs, "garbage"), nil, 0o600)
	// A directory whose IV is gone: reported, not descended, walk goes on.
	bad, _ := root.Mkdir("broken", 0o755)
	os.Remove(filepath.Join(v.Dir(), bad, DirIVName))
	var paths []string
	errs := map[string]error{}
	err := v.Walk(func(e WalkEntry) error {
		paths = append(paths, e.Path)
		if e.Err != nil {
			errs[e.BackingPath] = e.Err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g := filepath.Join(v.Dir(), docs, "garbage")
	if len(errs) != 2 || !errors.Is(errs[g], ErrCorrupt) || !errors.Is(errs[filepath.Join(v.Dir(), bad)], ErrCorrupt) {
		t.Fatalf("errors: %v", errs)
	}
	if !slices.Contains(paths, "zeta.txt") || !slices.Contains(paths, "docs/b.md") || !slices.Contains(paths, "broken") {
		t.Fatalf("walk stopped early: %q", paths)
	}
}

func TestWalkSkip(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	buildTree(t, v)
	var paths []string
	err := v.Walk(func(e WalkEntry) error {
		paths = append(paths, e.Path)
		if e.Path == "docs" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil || !slices.Equal(paths, []string{"", "alpha.txt", "docs", "zeta.txt"}) {
		t.Fatalf("SkipDir: %q %v", paths, err)
	}
	stop := errors.New("stop")
	n := 0
	err = v.Walk(func(e WalkEntry) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("error from fn: %v after %d", err, n)
	}
	n = 0
	if err := v.Walk(func(WalkEntry) error { n++; return fs.SkipAll }); err != nil || n != 1 {
		t.Fatalf("SkipAll: %v after %d", err, n)
	}
}

func TestResolvePath(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	buildTree(t, v)
	if p, err := v.ResolvePath(""); err != nil || p != v.Dir() {
		t.Fatalf("root: %q %v", p, err)
	}
	a, err := v.ResolvePath("docs/a.md")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := v.ResolvePath("/docs//./a.md"); err != nil || b != a {
		t.Fatalf("unclean path: %q %v", b, err)
	}
	for _, p := range []string{"nope", "docs/nope", "nope/a.md", "docs/a.md/x", "alpha.txt/x", "docs/link/x"} {
		_, err := v.ResolvePath(p)
		if err == nil {
			t.Fatalf("ResolvePath(%q) succeeded", p)
		}
		if strings.HasPrefix(p, "nope") || p == "docs/nope" {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ResolvePath(%q): %v, want ErrNotExist", p, err)
			}
		}
	}
	if _, err := v.ResolvePath("docs/../zeta.txt"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("..: %v", err)
	}
}
