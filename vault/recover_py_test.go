package vault

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The README's "Recovery without fernetfs" section shows contrib/recover.py;
// these tests run exactly that program with python3 and its cryptography
// package on vaults the Go code wrote, and compare the restored trees.
const recoverScript = "../contrib/recover.py"

// pythonWithCryptography finds a python3 that can import cryptography (the
// one on PATH, else Debian's), or skips: CI installs python3-cryptography.
func pythonWithCryptography(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import cryptography.fernet").Run() == nil {
			return p
		}
	}
	t.Skip("no python3 with the cryptography package (apt-get install python3-cryptography)")
	return ""
}

func runRecovery(t *testing.T, backing string, password []byte) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restored")
	cmd := exec.Command(pythonWithCryptography(t), recoverScript, backing, out)
	cmd.Env = append(os.Environ(), "FERNETFS_PASSWORD="+string(password))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("recover.py: %v\n%s", err, msg)
	}
	return out
}

func TestReadmeShowsRecoveryScript(t *testing.T) {
	script, err := os.ReadFile(recoverScript)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```python\n"+string(script)+"```\n")) {
		t.Fatal("README.md does not show contrib/recover.py verbatim in a python code block")
	}
}

func TestPythonRecoveryFrozenVault(t *testing.T) {
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	out := runRecovery(t, frozenVault, pw)
	compareTrees(t, plainTree(t, out), plainTree(t, frozenPlain))
}

// writeTree builds want inside v through the vault APIs (the same code
// the mount uses).
func writeTree(t *testing.T, v *Vault, want map[string]treeEntry) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	// Parents sort before their children.
	slices.Sort(paths)
	for _, p := range paths {
		dir, name := filepath.Split(p)
		d, err := v.OpenRoot()
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
			if part == "" {
				continue
			}
			sub, err := d.OpenDir(part)
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
			d = sub
		}
		e := want[p]
		switch e.kind {
		case fs.ModeDir:
			if _, err := d.Mkdir(name, 0o755); err != nil {
				t.Fatal(err)
			}
		case fs.ModeSymlink:
			b, err := d.PrepareName(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Symlinkat(e.content, d.Fd(), b); err != nil {
				t.Fatal(err)
			}
		default:
			b, err := d.PrepareName(name)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Openat(d.Fd(), b, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			f := os.NewFile(uintptr(fd), b)
			c := v.OpenContent(f, p)
			// Write the tail first: the chunks before it stay holes until
			// the data lands, exercising both paths of the reader.
			data := []byte(e.content)
			half := len(data) / 2
			if _, err := c.WriteAt(data[half:], int64(half)); err != nil {
				t.Fatal(err)
			}
			if nz := bytes.TrimLeft(data[:half], "\x00"); len(nz) > 0 {
				if _, err := c.WriteAt(data[:half], 0); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
		}
		d.Close()
	}
}

func TestPythonRecoveryFreshVault(t *testing.T) {
	for _, plaintextNames := range []bool{false, true} {
		t.Run(map[bool]string{false: "encrypted-names", true: "plaintext-names"}[plaintextNames], func(t *testing.T) {
			v := newTestVault(t, CreateOptions{ChunkSize: 64, PlaintextNames: plaintextNames})
			r := rand.New(rand.NewPCG(1, 2))
			blob := func(n int) string {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				return string(b)
			}
			want := map[string]treeEntry{
				"empty":                         {0, ""},
				"one":                           {0, "1"},
				"chunk-1":                       {0, blob(63)},
				"chunk":                         {0, blob(64)},
				"chunk+1":                       {0, blob(65)},
				"many":                          {0, blob(64*37 + 5)},
				"holes":                         {0, string(make([]byte, 64*6)) + "tail"},
				"d":                             {kind: fs.ModeDir},
				"d/e":                           {kind: fs.ModeDir},
				"d/e/deep.txt":                  {0, "deep"},
				"d/" + strings.Repeat("L", 200): {0, "long name"},
				"d/link":                        {fs.ModeSymlink, "../many"},
				"d/e/longlink":                  {fs.ModeSymlink, strings.Repeat("../x/", 819)},
				"shortest-longlink":             {fs.ModeSymlink, strings.Repeat("s", 3008)},
			}
			writeTree(t, v, want)
			compareTrees(t, plainTree(t, runRecovery(t, v.Dir(), []byte("pw"))), want)
		})
	}
}

// TestPythonRecoveryRejectsCutFile: a file cut at a line end holds only
// valid tokens, none marked last; recover.py must fail on it rather than
// restore a short file.
func TestPythonRecoveryRejectsCutFile(t *testing.T) {
	py := pythonWithCryptography(t)
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	writeTree(t, v, map[string]treeEntry{"f": {0, strings.Repeat("x", 64*3+5)}})
	backing, err := v.ResolvePath("f")
	if err != nil {
		t.Fatal(err)
	}
	lay := newLayout(64)
	if err := os.Truncate(backing, lay.lineOff(2)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, recoverScript, v.Dir(), filepath.Join(t.TempDir(), "restored"))
	cmd.Env = append(os.Environ(), "FERNETFS_PASSWORD=pw")
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "file cut short") {
		t.Fatalf("recover.py on a file cut at a line end: %v\n%s", err, msg)
	}
}

// TestPythonRecoveryTornVault: recover.py skips the leftover journal of
// the frozen torn vault and puts its torn chunk back from it, giving
// the golden tree; without the journal it refuses the torn file.
func TestPythonRecoveryTornVault(t *testing.T) {
	const src = "../testdata/vault-torn"
	pw, err := os.ReadFile(src + ".password")
	if err != nil {
		t.Fatal(err)
	}
	out := runRecovery(t, src, pw)
	compareTrees(t, plainTree(t, out), plainTree(t, src+".want"))

	dir := filepath.Join(t.TempDir(), "vault")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, JournalPrefix+"00000000000000f1")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pythonWithCryptography(t), recoverScript, dir, filepath.Join(t.TempDir(), "out"))
	cmd.Env = append(os.Environ(), "FERNETFS_PASSWORD="+string(pw))
	if msg, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("recover.py restored a torn file without its journal:\n%s", msg)
	}
}
