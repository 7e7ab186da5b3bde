package fs

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// Real programs run as child processes (never in the process serving
// the mount, see helperEnv); a program that is not installed skips its
// test, anything else it does wrong fails it.

// needProgram skips the test if name is not installed.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}

// program runs a command in dir and returns its stdout; a non-zero
// exit fails the test with the command's output.
func program(t *testing.T, dir string, env []string, stdin string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := programErr(dir, env, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func programErr(dir string, env []string, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	if dir != "" {
		// The child of the serving process must not chdir into the
		// mount itself (between fork and exec it cannot count on the
		// mount answering): a shell does it after the exec.
		args = append([]string{"-c", `cd "$0" && exec "$@"`, dir, name}, args...)
		name = "sh"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed: %v)", err, ctx.Err())
	}
	return o.String(), e.String(), err
}

// inodeOf is the inode number of path (not following a symlink).
func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestEditorSaves does what editors do on save: the atomic way (write a
// temp file, fsync it, rename it over the original, fsync the
// directory), vim's backup way (rename the original to a backup, write
// a new file), then the same through real sed -i and vim.
func TestEditorSaves(t *testing.T) {
	mnt, backing, _ := mountTest(t, Options{})
	g := newPlainGen(11)
	p := filepath.Join(mnt, g.name("doc.txt"))
	v1 := g.bytes(3*4096 + 5)
	if err := os.WriteFile(p, v1, 0o640); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old version open keeps seeing it.
	old, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	// Atomic save.
	v2 := g.bytes(4096 - 3)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(v2); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Errorf("fsync directory: %v", err)
	}
	d.Close()
	expectContent(t, p, v2)
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp file still there: %v", err)
	}
	got := make([]byte, len(v1)+1)
	if n, _ := old.ReadAt(got, 0); !bytes.Equal(got[:n], v1) {
		t.Errorf("handle on the replaced file reads %d bytes, not the old version", n)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after atomic save: %v %v", fi, err)
	}

	// vim-style: original becomes the backup, then a new file.
	ino := inodeOf(t, p)
	bak := p + "~"
	if err := os.Rename(p, bak); err != nil {
		t.Fatal(err)
	}
	v3 := g.bytes(2*4096 + 100)
	if err := os.WriteFile(p, v3, 0o640); err != nil {
		t.Fatal(err)
	}
	expectContent(t, p, v3)
	expectContent(t, bak, v2)
	if got := inodeOf(t, bak); got != ino {
		t.Errorf("backup has inode %d, original had %d", got, ino)
	}
	if err := os.Remove(bak); err != nil {
		t.Fatal(err)
	}

	// Real tools. sed -i writes a temp file and renames it over.
	text := filepath.Join(mnt, g.name("notes.txt"))
	var lines []string
	for i := range 2000 {
		lines = append(lines, fmt.Sprintf("line %d old %s", i, g.hexTag()))
	}
	if err := os.WriteFile(text, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("sed", func(t *testing.T) {
		needProgram(t, "sed")
		program(t, mnt, nil, "", "sed", "-i", "s/ old / sed /", text)
		want := strings.ReplaceAll(strings.Join(lines, "\n")+"\n", " old ", " sed ")
		expectContent(t, text, []byte(want))
	})
	t.Run("vim", func(t *testing.T) {
		needProgram(t, "vim")
		before, err := os.ReadFile(text)
		if err != nil {
			t.Fatal(err)
		}
		ino := inodeOf(t, text)
		program(t, mnt, []string{"HOME=" + t.TempDir()}, "", "vim", "-u", "NONE", "-i", "NONE", "-N", "-n", "-es",
			"-c", "set backup writebackup backupcopy=no backupdir=. backupext=.bak backupskip=",
			"-c", `%s/^line \(\d\+\) sed/vim \1/`, "-c", "wq", text)
		want := bytes.ReplaceAll(before, []byte("line "), []byte("vim "))
		want = bytes.ReplaceAll(want, []byte(" sed "), []byte(" "))
		expectContent(t, text, want)
		expectContent(t, text+".bak", before)
		if got := inodeOf(t, text+".bak"); got != ino {
			t.Errorf("vim's backup has inode %d, the original had %d (backupcopy=no renames)", got, ino)
		}
	})
	g.assertBackingClean(t, backing)
}

// gitEnv isolates git from the machine's configuration.
func gitEnv(t *testing.T) []string {
	return []string{
		"HOME=" + t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=fernetfs test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=fernetfs test", "GIT_COMMITTER_EMAIL=test@example.invalid",
		"GIT_AUTHOR_DATE=2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-01T00:00:00Z",
	}
}

// TestGit runs a repository's life on the mount: init, add, commit,
// branch, checkout back and forth (whole files replaced and removed),
// gc (packing: mmap, renames, fsync) and fsck --full --strict, then
// the same checks after a remount.
func TestGit(t *testing.T) {
	needProgram(t, "git")
	requireFuse(t)
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	env := gitEnv(t)
	g := newPlainGen(12)
	repo := filepath.Join(m.dir, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		return program(t, repo, env, "", "git", args...)
	}
	git("init", "-q")
	git("config", "gc.auto", "0")
	git("config", "core.fsync", "all")
	git("checkout", "-q", "-b", "main")

	files := map[string][]byte{
		"README.md":            []byte("hello " + g.hexTag() + "\n"),
		"big.bin":              g.bytes(300_000),
		"src/deep/dir/code.go": []byte("package dir\n\n// " + g.hexTag() + "\n"),
		"chunk.bin":            g.bytes(4096),
		g.name("long-name-" + strings.Repeat("x", 120)): g.bytes(4097),
	}
	write := func(name string, data []byte) {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		write(name, data)
	}
	if err := os.WriteFile(filepath.Join(repo, "run.sh"), []byte("#!/bin/sh\necho ok\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/deep", filepath.Join(repo, "link")); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "first")

	git("checkout", "-q", "-b", "feature")
	write("README.md", []byte("changed on feature\n"))
	write("new.txt", g.bytes(5000))
	if err := os.Remove(filepath.Join(repo, "big.bin")); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "second")

	git("checkout", "-q", "main")
	check := func(repo string) {
		t.Helper()
		for name, data := range files {
			expectContent(t, filepath.Join(repo, name), data)
		}
		if _, err := os.Lstat(filepath.Join(repo, "new.txt")); !os.IsNotExist(err) {
			t.Errorf("new.txt exists on main: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(repo, "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("run.sh lost its executable bit: %v %v", fi, err)
		}
		if target, err := os.Readlink(filepath.Join(repo, "link")); err != nil || target != "src/deep" {
			t.Errorf("link: %q %v", target, err)
		}
	}
	check(repo)
	if st := git("status", "--porcelain"); st != "" {
		t.Errorf("git status after checkout:\n%s", st)
	}

	git("gc", "-q", "--prune=now")
	if out := git("count-objects", "-v"); !strings.Contains(out, "count: 0") {
		t.Errorf("loose objects left after gc:\n%s", out)
	}
	git("fsck", "--full", "--strict", "--no-progress")
	if out := git("rev-list", "--count", "feature"); strings.TrimSpace(out) != "2" {
		t.Errorf("feature has %q commits, want 2", out)
	}
	git("checkout", "-q", "feature")
	expectContent(t, filepath.Join(repo, "README.md"), []byte("changed on feature\n"))
	git("checkout", "-q", "main")

	m.unmount(t)
	m2 := mountVault(t, v, Options{})
	repo = filepath.Join(m2.dir, "repo")
	git("fsck", "--full", "--strict", "--no-progress")
	check(repo)
	if st := git("status", "--porcelain"); st != "" {
		t.Errorf("git status after remount:\n%s", st)
	}
	g.assertBackingClean(t, backing)
}

// TestSqlite builds a database with thousands of inserts in
// transactions, updates and deletes, in rollback-journal and WAL mode
// (WAL maps its -shm file shared), checks its content and
// PRAGMA integrity_check, vacuums, and checks again after a remount.
func TestSqlite(t *testing.T) {
	needProgram(t, "sqlite3")
	requireFuse(t)
	for _, mode := range []string{"delete", "wal"} {
		t.Run(mode, func(t *testing.T) {
			backing, v := newTestVault(t, vault.CreateOptions{})
			m := mountVault(t, v, Options{})
			g := newPlainGen(13)
			db := filepath.Join(m.dir, "test.db")
			const rows, perTx = 3000, 300
			var sb strings.Builder
			fmt.Fprintf(&sb, "PRAGMA journal_mode=%s;\n", mode)
			sb.WriteString("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b BLOB);\n")
			sb.WriteString("CREATE INDEX t_n ON t(n);\n")
			for i := 1; i <= rows; i++ {
				if i%perTx == 1 {
					sb.WriteString("BEGIN;\n")
				}
				fmt.Fprintf(&sb, "INSERT INTO t(id, n, s, b) VALUES(%d, %d, '%s-%d', randomblob(%d));\n",
					i, i, g.hexTag(), i, 50+i%700)
				if i%perTx == 0 {
					sb.WriteString("COMMIT;\n")
				}
			}
			sb.WriteString("BEGIN; UPDATE t SET n = n * 2 WHERE id % 3 = 0; DELETE FROM t WHERE id % 7 = 0; COMMIT;\n")
			sb.WriteString("SELECT count(*), sum(n) FROM t;\nPRAGMA integrity_check;\n")
			out := program(t, m.dir, nil, sb.String(), "sqlite3", "-bail", "-batch", db)

			wantCount, wantSum := 0, 0
			for i := 1; i <= rows; i++ {
				if i%7 == 0 {
					continue
				}
				wantCount++
				if i%3 == 0 {
					wantSum += 2 * i
				} else {
					wantSum += i
				}
			}
			summary := fmt.Sprintf("%d|%d", wantCount, wantSum)
			want := mode + "\n" + summary + "\nok\n"
			if out != want {
				t.Fatalf("sqlite3 printed %q, want %q", out, want)
			}
			check := "SELECT count(*), sum(n) FROM t;\nPRAGMA integrity_check;\n"
			if out := program(t, m.dir, nil, "VACUUM;\n"+check, "sqlite3", "-bail", "-batch", db); out != summary+"\nok\n" {
				t.Fatalf("after VACUUM: %q", out)
			}
			m.unmount(t)
			m2 := mountVault(t, v, Options{})
			db = filepath.Join(m2.dir, "test.db")
			if out := program(t, m2.dir, nil, check, "sqlite3", "-bail", "-batch", db); out != summary+"\nok\n" {
				t.Fatalf("after remount: %q", out)
			}
			g.assertBackingClean(t, backing)
		})
	}
}

// TestTarExtract extracts, with the real tar, a tree made of a Go
// source directory plus a staging tree with what source trees lack
// (symlinks, hard links, an empty directory, an executable, a sparse
// file, long names), and compares the result with the sources byte for
// byte; then archives the mount again and compares that extraction too.
func TestTarExtract(t *testing.T) {
	needProgram(t, "tar")
	mnt, backing, _ := mountTest(t, Options{})
	goroot := strings.TrimSpace(program(t, "", nil, "", needProgram(t, "go"), "env", "GOROOT"))
	src := filepath.Join(goroot, "src", "encoding")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("no Go source tree to archive: %v", err)
	}
	stage := filepath.Join(t.TempDir(), "stage")
	g := newPlainGen(14)
	mk := func(name string, data []byte, mode os.FileMode) {
		p := filepath.Join(stage, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("data/a.bin", g.bytes(4096*3+1), 0o644)
	mk("data/"+g.name(strings.Repeat("L", 200)), g.bytes(777), 0o600)
	mk("bin/tool", []byte("#!/bin/sh\nexit 0\n"), 0o755)
	mk("data/empty", nil, 0o644)
	if err := os.MkdirAll(filepath.Join(stage, "emptydir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../data/a.bin", filepath.Join(stage, "bin", "rel-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/"+g.hexTag(), filepath.Join(stage, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(stage, "data/a.bin"), filepath.Join(stage, "data/hard")); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(stage, "data/sparse")
	sf, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	sf.WriteAt(g.bytes(100), 1<<20)
	sf.WriteAt(g.bytes(5000), 5<<20)
	sf.Close()

	archive := filepath.Join(t.TempDir(), "tree.tar")
	program(t, "", nil, "", "tar", "--sparse", "-cf", archive,
		"-C", filepath.Dir(src), filepath.Base(src), "-C", filepath.Dir(stage), filepath.Base(stage))
	dst := filepath.Join(mnt, "x")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	program(t, "", nil, "", "tar", "-xf", archive, "-C", dst)
	compareTrees(t, src, filepath.Join(dst, filepath.Base(src)))
	compareTrees(t, stage, filepath.Join(dst, filepath.Base(stage)))

	// And back out: tar reading from the mount (sizes from stat, sparse
	// detection with SEEK_DATA/SEEK_HOLE) must give the same tree.
	archive2 := filepath.Join(t.TempDir(), "again.tar")
	program(t, dst, nil, "", "tar", "--sparse", "-cf", archive2, ".")
	again := filepath.Join(t.TempDir(), "again")
	if err := os.Mkdir(again, 0o755); err != nil {
		t.Fatal(err)
	}
	program(t, "", nil, "", "tar", "-xf", archive2, "-C", again)
	compareTrees(t, stage, filepath.Join(again, filepath.Base(stage)))
	compareTrees(t, src, filepath.Join(again, filepath.Base(src)))

	g.assertBackingClean(t, backing)
	assertNoPlaintext(t, backing, []byte("Copyright"))
}

// compareTrees fails unless b holds exactly what a holds: the same
// names, types, permission bits, file contents, symlink targets,
// modification times (to the second, as tar keeps them) and the same
// hard-link groups.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	type entry struct {
		mode  fs.FileMode
		mtime int64
		data  []byte
		link  string
		ino   uint64
	}
	scan := func(root string) (map[string]entry, error) {
		m := map[string]entry{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			e := entry{mode: fi.Mode(), ino: fi.Sys().(*syscall.Stat_t).Ino}
			if !fi.IsDir() {
				e.mtime = fi.ModTime().Unix()
			}
			switch {
			case fi.Mode().IsRegular():
				if e.data, err = os.ReadFile(p); err != nil {
					return err
				}
			case fi.Mode()&fs.ModeSymlink != 0:
				if e.link, err = os.Readlink(p); err != nil {
					return err
				}
			}
			m[rel] = e
			return nil
		})
		return m, err
	}
	ma, err := scan(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := scan(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ma) != len(mb) {
		t.Errorf("%s has %d entries, %s has %d", a, len(ma), b, len(mb))
	}
	groupA, groupB := map[uint64]string{}, map[uint64]string{}
	for name, ea := range ma {
		eb, ok := mb[name]
		if !ok {
			t.Errorf("%s: missing in %s", name, b)
			continue
		}
		if ea.mode != eb.mode {
			t.Errorf("%s: mode %v, want %v", name, eb.mode, ea.mode)
		}
		if ea.mtime != eb.mtime {
			t.Errorf("%s: mtime %d, want %d", name, eb.mtime, ea.mtime)
		}
		if !bytes.Equal(ea.data, eb.data) {
			t.Errorf("%s: content differs (%d bytes, want %d; first difference at %d)", name, len(eb.data), len(ea.data), diffAt(eb.data, ea.data))
		}
		if ea.link != eb.link {
			t.Errorf("%s: symlink to %q, want %q", name, eb.link, ea.link)
		}
		if ea.mode.IsRegular() {
			// Names sharing an inode in a must share one in b.
			if first, ok := groupA[ea.ino]; ok {
				if mb[first].ino != eb.ino {
					t.Errorf("%s: not a hard link of %s any more", name, first)
				}
			} else {
				groupA[ea.ino] = name
				if other, ok := groupB[eb.ino]; ok {
					t.Errorf("%s: became a hard link of %s", name, other)
				}
				groupB[eb.ino] = name
			}
		}
	}
}

// TestMmap maps files on the mount from a child process: a private
// mapping's writes stay private, a shared mapping's writes reach the
// file (checked by the child and, through the daemon, by us), and a
// file grown by ftruncate is filled through a mapping. Both the default
// and a tiny chunk size, so pages span many chunks.
func TestMmap(t *testing.T) {
	requireFuse(t)
	for _, c := range []int{vault.DefaultChunkSize, 64} {
		t.Run("chunk"+strconv.Itoa(c), func(t *testing.T) {
			_, v := newTestVault(t, vault.CreateOptions{ChunkSize: c})
			m := mountVault(t, v, Options{})
			const size = 5*4096 + 321
			p := filepath.Join(m.dir, "mapped")
			if err := os.WriteFile(p, mmapPattern(size, 0), 0o644); err != nil {
				t.Fatal(err)
			}
			runHelper(t, "mmap-private", p, strconv.Itoa(size), "5")
			expectContent(t, p, mmapPattern(size, 0))
			runHelper(t, "mmap-shared", p, strconv.Itoa(size), "9")
			expectContent(t, p, mmapPattern(size, 9))
			q := filepath.Join(m.dir, "grown")
			runHelper(t, "mmap-extend", q, strconv.Itoa(3*4096+17), "3")
			expectContent(t, q, mmapPattern(3*4096+17, 3))

			m.unmount(t)
			m2 := mountVault(t, v, Options{})
			expectContent(t, filepath.Join(m2.dir, "mapped"), mmapPattern(size, 9))
			expectContent(t, filepath.Join(m2.dir, "grown"), mmapPattern(3*4096+17, 3))
		})
	}
}

// TestExecFromMount executes programs stored on the mount (a copied
// ELF binary, whose pages the kernel maps from the file, and a shell
// script), started by a shell so the exec happens in a child.
func TestExecFromMount(t *testing.T) {
	sh := needProgram(t, "sh")
	echo := needProgram(t, "echo")
	mnt, _, _ := mountTest(t, Options{})
	bin, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "echo"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!" + sh + "\n" + filepath.Join(mnt, "echo") + " from-script \"$@\"\n"
	if err := os.WriteFile(filepath.Join(mnt, "script.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := program(t, mnt, nil, "", sh, "-c", "./echo hello && ./script.sh arg")
	if out != "hello\nfrom-script arg\n" {
		t.Errorf("output %q", out)
	}
}
