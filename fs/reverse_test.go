package fs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/fernetfs/fernetfs/vault"
)

// mountReverse unlocks the reverse vault in plain and mounts its view
// at a fresh directory, unmounted in t.Cleanup.
func mountReverse(t *testing.T, plain string, exclude ...string) *testMount {
	t.Helper()
	requireFuse(t)
	rv, err := vault.UnlockReverse(plain, vault.Credential{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	m := &testMount{dir: filepath.Join(t.TempDir(), "view"), log: &syncBuffer{}}
	if err := os.Mkdir(m.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := MountReverse(rv, m.dir, ReverseOptions{Logger: log.New(m.log, "", 0), Exclude: exclude})
	if err != nil {
		t.Fatalf("mount --reverse: %v", err)
	}
	m.server = srv
	t.Cleanup(func() {
		m.unmount(t)
		if s := m.log.String(); s != "" {
			t.Logf("reverse mount log:\n%s", s)
		}
	})
	return m
}

// newReverseTree makes a plaintext folder with a reverse header and the
// tree every reverse test uses: every boundary size of the default
// chunk, a large file, long and unicode names, symlinks (one pointing
// outside), a hard link, empty and nested directories, a sparse file, a
// FIFO, a socket and an excluded subtree.
func newReverseTree(t *testing.T) string {
	t.Helper()
	plain := filepath.Join(t.TempDir(), "plain")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(plain, 0o755))
	write := func(name string, data []byte) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(filepath.Join(plain, name)), 0o755))
		must(os.WriteFile(filepath.Join(plain, name), data, 0o644))
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rand.IntN(256))
		}
		return b
	}
	const c = vault.DefaultChunkSize
	for _, n := range []int{0, 1, 15, 16, c - 1, c, c + 1} {
		write("sizes/"+strings.Repeat("s", 1+n%5)+"-"+strconv.Itoa(n), random(n))
	}
	write("big", random(3<<20+123))
	write(strings.Repeat("L", 200), []byte("long name"))
	write("dir/"+strings.Repeat("ü", 100)+" ✓", []byte("long unicode name"))
	write("unicode/héllo wörld ✓.txt", []byte("unicode"))
	write("dir/fernetfs.json", []byte("not a header"))
	write("dir/sub/deep.txt", []byte("deep"))
	write("notes.tmp", []byte("excluded by *.tmp"))
	write("cache/a", []byte("excluded"))
	write("cache/sub/b", []byte("excluded"))
	must(os.Mkdir(filepath.Join(plain, "empty"), 0o700))
	must(os.Symlink("big", filepath.Join(plain, "ln")))
	must(os.Symlink("/etc/passwd", filepath.Join(plain, "dir/outside")))
	must(os.Symlink(strings.Repeat("t/", 1000), filepath.Join(plain, "longtarget")))
	must(os.Link(filepath.Join(plain, "unicode/héllo wörld ✓.txt"), filepath.Join(plain, "hardlink")))
	f, err := os.Create(filepath.Join(plain, "sparse"))
	must(err)
	_, err = f.WriteAt([]byte("end of a sparse file"), 5<<20)
	must(err)
	must(f.Close())
	must(syscall.Mkfifo(filepath.Join(plain, "fifo"), 0o600))
	l, err := net.Listen("unix", filepath.Join(plain, "sock"))
	must(err)
	t.Cleanup(func() { l.Close() })
	if _, err := vault.CreateReverse(plain, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	return plain
}

// reverseExcludes leave out what newReverseTree marks as excluded.
var reverseExcludes = []string{"/cache/", "*.tmp"}

// diffPlain fails unless tree holds exactly plain's visible entries
// (without what the view leaves out), compared by diff -r.
func diffPlain(t *testing.T, plain, tree string) {
	t.Helper()
	program(t, "", nil, "", "diff", "-r", "--no-dereference",
		"-x", vault.ReverseHeaderName, "-x", "cache", "-x", "*.tmp", "-x", "sock", "-x", "fifo", plain, tree)
}

// copyView copies the view with cp -a, as a backup would.
func copyView(t *testing.T, view string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	program(t, "", nil, "", "cp", "-a", view, dst)
	return dst
}

func TestReverseViewIsAVault(t *testing.T) {
	plain := newReverseTree(t)
	before := program(t, "", nil, "", "find", plain, "-printf", "%p %s %T@ %C@ %m %i\n")
	m := mountReverse(t, plain, reverseExcludes...)
	cp := copyView(t, m.dir)
	if !strings.Contains(m.log.String(), "/sock") {
		t.Errorf("the socket was left out without a log line; log:\n%s", m.log)
	}
	m.unmount(t)
	if after := program(t, "", nil, "", "find", plain, "-printf", "%p %s %T@ %C@ %m %i\n"); after != before {
		t.Errorf("the plaintext folder changed while its view was mounted and copied:\n%s\nthen:\n%s", before, after)
	}

	// The copy is a forward vault: every entry, byte for byte.
	v, err := vault.Unlock(cp, vault.Credential{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if v.Header().HasFeature(vault.FeatureReverse) {
		t.Fatal("the copy's header carries the reverse flag")
	}
	fwd := mountVault(t, v, Options{})
	diffPlain(t, plain, fwd.dir)
	if fi, err := os.Lstat(filepath.Join(fwd.dir, "fifo")); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("fifo in the copy: %v, %v", fi, err)
	}
	for _, gone := range []string{"sock", "cache", "notes.tmp", vault.ReverseHeaderName} {
		if _, err := os.Lstat(filepath.Join(fwd.dir, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is in the copy (%v)", gone, err)
		}
	}
	// The sparse file stays sparse in the view's layout: its hole
	// chunks are NUL lines, so the copy takes little space.
	sparse, err := v.ResolvePath("sparse")
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(sparse, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 1<<20 {
		t.Errorf("the view of a 5 MiB sparse file takes %d bytes in a cp -a copy", st.Blocks*512)
	}

	// contrib/recover.py reads the copy too, FIFO included (it must make
	// a FIFO, never open one and wait on it).
	restored := runRecoverPy(t, cp)
	diffPlain(t, plain, restored)
	if fi, err := os.Lstat(filepath.Join(restored, "fifo")); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("fifo restored by recover.py: %v, %v", fi, err)
	}

	// And it is writable like any vault.
	if err := os.WriteFile(filepath.Join(fwd.dir, "big"), []byte("rewritten"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fwd.dir, "dir/new"), []byte("new file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(fwd.dir, "big")); err != nil || string(got) != "rewritten" {
		t.Fatalf("after a write to the copy: %q, %v", got, err)
	}
}

// runRecoverPy runs contrib/recover.py on a vault (see vault's
// recover_py_test.go), skipping without python3-cryptography.
func runRecoverPy(t *testing.T, backing string) string {
	t.Helper()
	py := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import cryptography.fernet").Run() == nil {
			py = path
			break
		}
	}
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no python3 with the cryptography package")
		}
		t.Skip("no python3 with the cryptography package")
	}
	out := filepath.Join(t.TempDir(), "restored")
	program(t, "", []string{"FERNETFS_PASSWORD=" + string(testPassword)}, "", "timeout", "120", py, "../contrib/recover.py", backing, out)
	return out
}

func TestReverseDeterministicView(t *testing.T) {
	plain := newReverseTree(t)
	m := mountReverse(t, plain, reverseExcludes...)
	a := copyView(t, m.dir)
	// Inode numbers, sizes, modes and times too: backup tools store
	// them and take a change for a changed file.
	meta := func(dir string) string {
		return program(t, "", nil, "", "sh", "-c", `cd "$0" && find . -printf '%i %s %m %T@ %C@ %n %p\n' | sort`, dir)
	}
	metaA := meta(m.dir)
	m.unmount(t)
	m2 := mountReverse(t, plain, reverseExcludes...)
	b := copyView(t, m2.dir)
	sameTree(t, a, b)
	if metaB := meta(m2.dir); metaB != metaA {
		t.Errorf("the view's metadata changed across a remount:\n%s\nthen:\n%s", metaA, metaB)
	}

	// A 1-byte edit in place, in the middle of the large file, changes
	// one line of one view file and nothing else.
	f, err := os.OpenFile(filepath.Join(plain, "big"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := f.ReadAt(one, 1<<20+7); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0xff // the file is random: writing a fixed byte could write what is there
	if _, err := f.WriteAt(one, 1<<20+7); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := copyView(t, m2.dir)
	changed := 0
	err = filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(b, p)
		old, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		cur, err := os.ReadFile(filepath.Join(c, rel))
		if err != nil {
			return err
		}
		if bytes.Equal(old, cur) {
			return nil
		}
		changed++
		lo, lc := bytes.Split(old, []byte("\n")), bytes.Split(cur, []byte("\n"))
		lines := 0
		for i := range lo {
			if i < len(lc) && !bytes.Equal(lo[i], lc[i]) {
				lines++
			}
		}
		if len(lo) != len(lc) || lines != 1 {
			t.Errorf("%s: %d lines changed (%d, %d lines), want 1", rel, lines, len(lo), len(lc))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if changed != 1 {
		t.Errorf("%d view files changed after a 1-byte edit, want 1", changed)
	}
}

// sameTree fails unless a and b hold the same names, types, modes,
// bytes and symlink targets (diff -r refuses to compare FIFOs).
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		fa, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fb, err := os.Lstat(q)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if fa.Mode() != fb.Mode() {
			t.Errorf("%s: mode %v, then %v", rel, fa.Mode(), fb.Mode())
		}
		switch {
		case fa.Mode().IsRegular():
			da, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			db, err := os.ReadFile(q)
			if err != nil {
				return err
			}
			if !bytes.Equal(da, db) {
				t.Errorf("%s: bytes differ", rel)
			}
		case fa.Mode()&fs.ModeSymlink != 0:
			la, _ := os.Readlink(p)
			lb, _ := os.Readlink(q)
			if la != lb {
				t.Errorf("%s: symlink targets differ", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		n--
		return err
	})
	if err != nil || n != 0 {
		t.Errorf("%s and %s differ in their number of entries (%v)", a, b, err)
	}
}

// TestReverseMetadataReadsNoContent: ls -lR, find and du of the view
// read no plaintext file (their access times, set before their
// modification times so that any read moves them, stay put); reading a
// view file does read its plaintext.
func TestReverseMetadataReadsNoContent(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"a", "d/b", "d/" + strings.Repeat("l", 150)} {
		p := filepath.Join(plain, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vault.CreateReverse(plain, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	atime := func(name string) time.Time {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(plain, name), &st); err != nil {
			t.Fatal(err)
		}
		return time.Unix(st.Atim.Unix())
	}
	// Atimes must move on this filesystem for the test to see anything.
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(probe, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	program(t, "", nil, "", "cat", probe)
	var pst syscall.Stat_t
	if err := syscall.Stat(probe, &pst); err != nil || time.Unix(pst.Atim.Unix()).Equal(old) {
		t.Skip("reading a file does not move its access time here (noatime?)")
	}
	m := mountReverse(t, plain)
	program(t, "", nil, "", "ls", "-lRa", m.dir)
	program(t, "", nil, "", "find", m.dir, "-type", "f", "-size", "+0", "-ls")
	program(t, "", nil, "", "du", "-a", m.dir)
	for _, name := range []string{"a", "d/b", "d/" + strings.Repeat("l", 150)} {
		if !atime(name).Equal(old) {
			t.Errorf("%s was read by ls -lR, find or du of the view", name)
		}
	}
	program(t, "", nil, "", "sh", "-c", `find "$0" -type f -exec cat {} + >/dev/null`, m.dir)
	if atime("a").Equal(old) {
		t.Errorf("reading the view did not read the plaintext (or atimes do not move here)")
	}
}

// TestReverseBadEntries: an entry the view cannot show fails alone, with
// one log line, and the rest of the directory works.
func TestReverseBadEntries(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("x", 3008), filepath.Join(plain, "toolong")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "ok"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.CreateReverse(plain, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	m := mountReverse(t, plain)
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	bad, good := 0, 0
	for _, e := range entries {
		_, err := os.Lstat(filepath.Join(m.dir, e.Name()))
		switch {
		case errors.Is(err, syscall.ENAMETOOLONG):
			bad++
		case err == nil:
			good++
		default:
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	// ok, fernetfs.json and fernetfs.diriv work; the symlink does not.
	if bad != 1 || good != 3 {
		t.Errorf("%d entries failed with ENAMETOOLONG and %d worked, want 1 and 3", bad, good)
	}
	if strings.Count(m.log.String(), "/toolong") != 1 {
		t.Errorf("want one log line about /toolong; log:\n%s", m.log)
	}
}

// denyNode is a loopback node that refuses to open the file "secret"
// and to list the directory "private" with EACCES, as the kernel would
// refuse a non-root daemon (a test running as root cannot make a local
// file unreadable to itself).
type denyNode struct {
	*gofs.LoopbackNode
}

var _ gofs.NodeWrapChilder = (*denyNode)(nil)

func (n *denyNode) WrapChild(ctx context.Context, ops gofs.InodeEmbedder) gofs.InodeEmbedder {
	return &denyNode{ops.(*gofs.LoopbackNode)}
}

func (n *denyNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if n.Path(nil) == "secret" {
		return nil, 0, syscall.EACCES
	}
	return n.LoopbackNode.Open(ctx, flags)
}

func (n *denyNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if n.Path(nil) == "private" {
		return nil, 0, syscall.EACCES
	}
	return n.LoopbackNode.OpendirHandle(ctx, flags)
}

// TestReverseUnreadableEntries: a file or directory the daemon may not
// read fails with EACCES alone; the rest of the view works.
func TestReverseUnreadableEntries(t *testing.T) {
	requireFuse(t)
	src := filepath.Join(t.TempDir(), "src")
	for name, data := range map[string]string{"ok.txt": "readable", "secret": "unreadable", "private/inner.txt": "listed never"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lr, err := gofs.NewLoopbackRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	root := &denyNode{lr.(*gofs.LoopbackNode)}
	root.RootData.RootNode = root
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := gofs.Mount(plain, root, &gofs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount() })
	if _, err := vault.CreateReverse(plain, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	m := mountReverse(t, plain)
	rv, err := vault.UnlockReverse(plain, vault.Credential{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	view := func(name string) string {
		b, _, err := rv.EncryptName(rv.DirIV(""), name)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(m.dir, b)
	}
	if _, err := os.ReadFile(view("secret")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("reading the view of an unreadable file: %v, want EACCES", err)
	}
	if _, err := os.ReadDir(view("private")); !errors.Is(err, syscall.EACCES) {
		t.Errorf("listing the view of an unlistable directory: %v, want EACCES", err)
	}
	for _, name := range []string{"secret", "private"} {
		if _, err := os.Lstat(view(name)); err != nil {
			t.Errorf("stat of %s's view: %v", name, err)
		}
	}
	if _, err := os.ReadFile(view("ok.txt")); err != nil {
		t.Errorf("the readable file next to them: %v", err)
	}
	if entries, err := os.ReadDir(m.dir); err != nil || len(entries) != 5 {
		t.Errorf("listing the root: %d entries, %v; want 5", len(entries), err)
	}
}

// TestReverseShrinkWhileOpen: a file that shrinks after its view was
// opened fails to read with EIO instead of giving a short copy.
func TestReverseShrinkWhileOpen(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.CreateReverse(plain, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	m := mountReverse(t, plain)
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, e := range entries {
		if !vault.IsReservedName(e.Name()) {
			name = e.Name()
		}
	}
	f, err := os.Open(filepath.Join(m.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(filepath.Join(plain, "f"), 1000); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	_, err = f.ReadAt(buf, 512<<10)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading the view of a file that shrank: %v, want EIO", err)
	}
}

// TestReverseRestic backs up the view twice with restic: the second
// backup of an unchanged folder adds almost nothing.
func TestReverseRestic(t *testing.T) {
	restic, err := exec.LookPath("restic")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("restic is not installed")
		}
		t.Skip("restic is not installed")
	}
	plain := newReverseTree(t)
	m := mountReverse(t, plain, reverseExcludes...)
	repo := filepath.Join(t.TempDir(), "repo")
	env := []string{"RESTIC_PASSWORD=restic-test", "RESTIC_REPOSITORY=" + repo}
	program(t, "", env, "", restic, "--no-cache", "--quiet", "init")
	added := func() int64 {
		out := program(t, "", env, "", restic, "--no-cache", "backup", "--json", m.dir)
		for _, line := range strings.Split(out, "\n") {
			var s struct {
				MessageType string `json:"message_type"`
				DataAdded   int64  `json:"data_added"`
			}
			if json.Unmarshal([]byte(line), &s) == nil && s.MessageType == "summary" {
				return s.DataAdded
			}
		}
		t.Fatalf("no summary in restic's output:\n%s", out)
		return 0
	}
	if first := added(); first < 3<<20 {
		t.Fatalf("first backup added %d bytes, less than the data", first)
	}
	if second := added(); second >= 10<<10 {
		t.Fatalf("second backup of an unchanged view added %d bytes, want < 10 KB", second)
	}
}

// TestReverseNoXattrs: the view shows no extended attributes, and says
// so as a filesystem without them does (EOPNOTSUPP), also for a file
// whose plaintext has one, while listings and copies keep working.
func TestReverseNoXattrs(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.MkdirAll(filepath.Join(plain, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(plain, "d", "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Setxattr(f, "user.test", []byte("v"), 0) // where the filesystem allows
	if _, err := vault.CreateReverse(plain, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	m := mountReverse(t, plain)
	des, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		p := filepath.Join(m.dir, de.Name())
		for _, attr := range []string{"user.test", "security.selinux"} {
			if _, err := syscall.Getxattr(p, attr, make([]byte, 64)); err != syscall.ENOTSUP {
				t.Errorf("getxattr(%s, %s) = %v, want %v", de.Name(), attr, err, syscall.ENOTSUP)
			}
		}
		// The kernel answers for POSIX ACLs: there are none.
		if _, err := syscall.Getxattr(p, "system.posix_acl_access", make([]byte, 64)); err != syscall.ENODATA && err != syscall.ENOTSUP {
			t.Errorf("getxattr(%s, system.posix_acl_access) = %v, want %v or %v", de.Name(), err, syscall.ENODATA, syscall.ENOTSUP)
		}
		if _, err := syscall.Listxattr(p, make([]byte, 64)); err != syscall.ENOTSUP {
			t.Errorf("listxattr(%s) = %v, want %v", de.Name(), err, syscall.ENOTSUP)
		}
	}
	program(t, "", nil, "", "ls", "-lR", m.dir)
	dst := copyView(t, m.dir)
	if _, err := vault.Unlock(dst, vault.Credential{Password: testPassword}); err != nil {
		t.Errorf("the copy of the view does not open as a vault: %v", err)
	}
}
