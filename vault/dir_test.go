package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func openRoot(t *testing.T, v *Vault) *Dir {
	t.Helper()
	d, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// createFile makes an empty plaintext file the way the FUSE layer does:
// PrepareName, then openat relative to the directory.
func createFile(t *testing.T, d *Dir, name string) string {
	t.Helper()
	b, err := d.PrepareName(name)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Openat(d.Fd(), b, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	return b
}

func mkdir(t *testing.T, d *Dir, name string) *Dir {
	t.Helper()
	if _, err := d.Mkdir(name, 0o755); err != nil {
		t.Fatal(err)
	}
	sub, err := d.OpenDir(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func listNames(t *testing.T, d *Dir) []string {
	t.Helper()
	ents, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Err != nil {
			t.Fatalf("entry %q: %v", e.Backing, e.Err)
		}
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return names
}

func TestMkdirDirIV(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	if len(root.IV()) != DirIVLen {
		t.Fatalf("root IV %x", root.IV())
	}
	b, err := root.Mkdir("sub", 0o750)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(v.Dir(), b, DirIVName))
	if err != nil || st.Size() != DirIVLen || st.Mode().Perm() != 0o400 {
		t.Fatalf("diriv: %v %v", st, err)
	}
	sub, err := root.OpenDir("sub")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if bytes.Equal(sub.IV(), root.IV()) {
		t.Fatal("subdirectory shares the root's IV")
	}
	if _, err := root.Mkdir("sub", 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Mkdir over existing: %v", err)
	}
	// A read-only mode still gets its IV, and ends with the asked-for bits.
	b, err = root.Mkdir("ro", 0o500)
	if err != nil {
		t.Fatal(err)
	}
	st, err = os.Stat(filepath.Join(v.Dir(), b))
	if err != nil || st.Mode().Perm()&0o700 != 0o500 {
		t.Fatalf("ro dir mode: %v %v", st.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(v.Dir(), b, DirIVName)); err != nil {
		t.Fatal(err)
	}
	// Encrypted names leave no reserved plaintext names.
	if _, err := root.Mkdir("fernetfs.x", 0o755); err != nil {
		t.Fatalf("Mkdir(fernetfs.x): %v", err)
	}
}

func TestOpenDirBadIV(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	b, _ := root.Mkdir("d", 0o755)
	ivPath := filepath.Join(v.Dir(), b, DirIVName)
	if err := os.Remove(ivPath); err != nil {
		t.Fatal(err)
	}
	if _, err := root.OpenDir("d"); !errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing diriv: %v", err)
	}
	os.WriteFile(ivPath, []byte("short"), 0o400)
	if _, err := root.OpenDir("d"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short diriv: %v", err)
	}
	os.Remove(ivPath)
	os.WriteFile(ivPath, make([]byte, 17), 0o400)
	if _, err := root.OpenDir("d"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("long diriv: %v", err)
	}
	os.Remove(ivPath)
	os.Symlink(filepath.Join(v.Dir(), DirIVName), ivPath)
	if _, err := root.OpenDir("d"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("symlinked diriv followed: %v", err)
	}
	if _, err := root.OpenDir("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	// A backing symlink in place of a directory is not followed.
	sb, _ := root.BackingName("link")
	os.Symlink(filepath.Join(v.Dir(), b), filepath.Join(v.Dir(), sb))
	if _, err := root.OpenDir("link"); err == nil {
		t.Fatal("OpenDir followed a backing symlink")
	}
}

func TestListReservedAndUndecodable(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	long := strings.Repeat("L", 140)
	createFile(t, root, "a.txt")
	createFile(t, root, long)
	mkdir(t, root, "dir")
	// Vault metadata and debris that must never show up.
	orphan := LongNameSidecar(LongNamePrefix + strings.Repeat("Q", 43))
	for _, n := range []string{HeaderBackupName, ".fernetfs.json.tmp-42", orphan, LongNamePrefix + "bad"} {
		os.WriteFile(filepath.Join(v.Dir(), n), []byte("x"), 0o600)
	}
	want := []string{"a.txt", "dir", long}
	slices.Sort(want)
	if got := listNames(t, root); !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	// Ino and Type come from the listing.
	ents, _ := root.List()
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Fstatat(root.Fd(), e.Backing, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
		if e.Ino != st.Ino || e.Type != uint32(st.Mode)&unix.S_IFMT {
			t.Fatalf("%q: ino %d type %o, stat says %d %o", e.Name, e.Ino, e.Type, st.Ino, st.Mode&unix.S_IFMT)
		}
	}
	// An undecodable entry is reported, the rest still listed.
	os.WriteFile(filepath.Join(v.Dir(), "junk"), nil, 0o600)
	other := newTestVault(t, CreateOptions{})
	foreign, _, _ := other.EncryptName(root.IV(), "x")
	os.WriteFile(filepath.Join(v.Dir(), foreign), nil, 0o600)
	lb, _ := root.BackingName(long)
	os.Remove(filepath.Join(v.Dir(), LongNameSidecar(lb)))
	ents, err := root.List()
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]bool{}
	var good []string
	for _, e := range ents {
		if e.Err != nil {
			if !errors.Is(e.Err, ErrCorrupt) || e.Name != "" {
				t.Fatalf("%q: %q %v", e.Backing, e.Name, e.Err)
			}
			bad[e.Backing] = true
		} else {
			good = append(good, e.Name)
		}
	}
	slices.Sort(good)
	if !slices.Equal(good, []string{"a.txt", "dir"}) || len(bad) != 3 || !bad["junk"] || !bad[foreign] || !bad[lb] {
		t.Fatalf("good %q, bad %v", good, bad)
	}
}

func TestListConcurrent(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	for _, n := range []string{"x", "y", "z", strings.Repeat("w", 200)} {
		createFile(t, root, n)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				ents, err := root.List()
				if err != nil || len(ents) != 4 {
					t.Errorf("List: %d entries, %v", len(ents), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPrepareForgetName(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	long := strings.Repeat("s", 128)
	b, err := root.BackingName(long)
	if err != nil {
		t.Fatal(err)
	}
	sc := filepath.Join(v.Dir(), LongNameSidecar(b))
	if _, err := os.Stat(sc); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("BackingName wrote a sidecar")
	}
	_, tok, _ := v.EncryptName(root.IV(), long)
	if b2 := createFile(t, root, long); b2 != b {
		t.Fatalf("PrepareName %q != BackingName %q", b2, b)
	}
	st, err := os.Stat(sc)
	got, _ := os.ReadFile(sc)
	if err != nil || st.Mode().Perm() != 0o400 || string(got) != tok {
		t.Fatalf("sidecar: %v %v %q", st, err, got)
	}
	// Repeating is harmless; a stale sidecar is replaced.
	if _, err := root.PrepareName(long); err != nil {
		t.Fatal(err)
	}
	os.Remove(sc)
	os.WriteFile(sc, []byte("stale"), 0o400)
	if _, err := root.PrepareName(long); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(sc); string(got) != tok {
		t.Fatalf("stale sidecar kept: %q", got)
	}
	if got := listNames(t, root); !slices.Equal(got, []string{long}) {
		t.Fatalf("List = %q", got)
	}
	if err := unix.Unlinkat(root.Fd(), b, 0); err != nil {
		t.Fatal(err)
	}
	if err := root.ForgetName(b); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sc); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("ForgetName left the sidecar")
	}
	if err := root.ForgetName(b); err != nil {
		t.Fatalf("ForgetName twice: %v", err)
	}
	sb := createFile(t, root, "short")
	if err := root.ForgetName(sb); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, root); !slices.Equal(got, []string{"short"}) {
		t.Fatalf("List = %q", got)
	}
	// Nothing but the entry, its sidecar, the IV and the header remains.
	ents, _ := os.ReadDir(v.Dir())
	for _, e := range ents {
		if n := e.Name(); n != HeaderName && n != DirIVName && n != sb {
			t.Fatalf("leftover backing file %q", n)
		}
	}
}

func TestMkdirLongName(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	long := strings.Repeat("D", 250)
	sub := mkdir(t, root, long)
	createFile(t, sub, "inner")
	if got := listNames(t, root); !slices.Equal(got, []string{long}) {
		t.Fatalf("List = %q", got)
	}
	if got := listNames(t, sub); !slices.Equal(got, []string{"inner"}) {
		t.Fatalf("List = %q", got)
	}
	// A failed Mkdir (existing name) keeps the existing entry's sidecar.
	if _, err := root.Mkdir(long, 0o755); !errors.Is(err, syscall.EEXIST) {
		t.Fatal(err)
	}
	if got := listNames(t, root); !slices.Equal(got, []string{long}) {
		t.Fatalf("after failed Mkdir: %q", got)
	}
}

func TestPlaintextNameVaultDir(t *testing.T) {
	v := newTestVault(t, CreateOptions{PlaintextNames: true})
	root := openRoot(t, v)
	if root.IV() != nil {
		t.Fatal("plaintext-name vault has a root IV")
	}
	if _, err := os.Stat(filepath.Join(v.Dir(), DirIVName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("plaintext-name vault has a diriv")
	}
	b, err := root.Mkdir("docs", 0o755)
	if err != nil || b != "docs" {
		t.Fatalf("Mkdir: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(v.Dir(), "docs", DirIVName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("plaintext-name Mkdir wrote a diriv")
	}
	sub, err := root.OpenDir("docs")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	long := strings.Repeat("p", 255)
	if b := createFile(t, sub, long); b != long {
		t.Fatalf("backing %q", b)
	}
	for _, n := range []string{HeaderName, HeaderBackupName, DirIVName, LongNamePrefix + "x", ".fernetfs.tmp-1"} {
		if _, err := root.BackingName(n); !errors.Is(err, ErrReservedName) || !errors.Is(err, syscall.EPERM) {
			t.Fatalf("BackingName(%q): %v", n, err)
		}
		if _, err := root.Mkdir(n, 0o755); !errors.Is(err, ErrReservedName) {
			t.Fatalf("Mkdir(%q): %v", n, err)
		}
	}
	os.WriteFile(filepath.Join(v.Dir(), ".fernetfs.json.tmp-9"), nil, 0o600)
	if got := listNames(t, root); !slices.Equal(got, []string{"docs"}) {
		t.Fatalf("root List = %q", got)
	}
	if got := listNames(t, sub); !slices.Equal(got, []string{long}) {
		t.Fatalf("sub List = %q", got)
	}
}

// BenchmarkList measures listing a directory of 1000 short and long
// names: one getdents pass plus a name decryption per entry.
func BenchmarkList(b *testing.B) {
	v := newTestVault(b, CreateOptions{})
	root, err := v.OpenRoot()
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	for i := range 1000 {
		name := fmt.Sprintf("file-%04d.txt", i)
		if i%10 == 0 {
			name = strings.Repeat("x", 150) + name
		}
		bn, err := root.PrepareName(name)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v.Dir(), bn), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		ents, err := root.List()
		if err != nil || len(ents) != 1000 {
			b.Fatal(len(ents), err)
		}
	}
}

// TestMkdirOpen checks that the directory MkdirOpen hands back is the
// one made, with the IV now on disk: names created through it must
// decrypt when the directory is opened afresh.
func TestMkdirOpen(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	for _, mode := range []uint32{0o755, 0o500} {
		name := fmt.Sprintf("d%o", mode)
		b, sub, err := root.MkdirOpen(name, mode)
		if err != nil {
			t.Fatal(err)
		}
		onDisk, err := os.ReadFile(filepath.Join(v.Dir(), b, DirIVName))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sub.IV(), onDisk) || len(onDisk) != DirIVLen {
			t.Fatalf("%s: IV %x, on disk %x", name, sub.IV(), onDisk)
		}
		var fst, pst unix.Stat_t
		if err := unix.Fstat(sub.Fd(), &fst); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(filepath.Join(v.Dir(), b), &pst); err != nil {
			t.Fatal(err)
		}
		if fst.Ino != pst.Ino || uint32(pst.Mode)&0o700 != mode&0o700 {
			t.Fatalf("%s: fd ino %d mode %o, path ino %d mode %o", name, fst.Ino, fst.Mode, pst.Ino, pst.Mode)
		}
		short, long := "f", strings.Repeat("n", 200)
		createFile(t, sub, short)
		createFile(t, sub, long)
		sub.Close()
		again, err := root.OpenDir(name)
		if err != nil {
			t.Fatal(err)
		}
		got := listNames(t, again)
		again.Close()
		if want := []string{short, long}; !slices.Equal(got, want) {
			t.Fatalf("%s: names %q, want %q", name, got, want)
		}
	}
	if _, sub, err := root.MkdirOpen(fmt.Sprintf("d%o", 0o755), 0o755); !errors.Is(err, fs.ErrExist) || sub != nil {
		t.Fatalf("MkdirOpen over existing: %v %v", sub, err)
	}

	pv := newTestVault(t, CreateOptions{PlaintextNames: true})
	proot := openRoot(t, pv)
	if b, sub, err := proot.MkdirOpen("docs", 0o755); err != nil || b != "docs" || sub != nil {
		t.Fatalf("plaintext MkdirOpen: %q %v %v", b, sub, err)
	}
}
