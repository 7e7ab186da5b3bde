package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fernetfs/fernetfs/vault/fernet"
	"golang.org/x/sys/unix"
)

// The README's "Recovery without fernetfs" section shows contrib/recover.py;
// these tests run exactly that program with python3 and its cryptography
// package on vaults the Go code wrote, and compare the restored trees.
const recoverScript = "../contrib/recover.py"

// pythonWithCryptography finds a python3 that can import cryptography (the
// one on PATH, else Debian's), or skips; under CI (.ci/run installs
// python3-cryptography) it fails instead, so the tests cannot vanish.
func pythonWithCryptography(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import cryptography.fernet").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no python3 with the cryptography package (.ci/run installs python3-cryptography)")
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

// recoverStatus runs recover.py on backing, restoring into out, and
// returns its exit status and what it printed on stderr.
func recoverStatus(t *testing.T, backing, out string, password []byte) (int, string) {
	t.Helper()
	return recoverWithEnv(t, backing, out, "FERNETFS_PASSWORD="+string(password))
}

// recoverWithEnv is recoverStatus with the credentials given as
// environment entries, in place of any the test's environment has.
func recoverWithEnv(t *testing.T, backing, out string, creds ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(pythonWithCryptography(t), recoverScript, backing, out)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool {
		return strings.HasPrefix(s, "FERNETFS_PASSWORD=") || strings.HasPrefix(s, "FERNETFS_RECOVERY_KEY=")
	}), creds...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// exitStatusFor is the exit status recover.py documents for an error of
// Unlock (the same table as the fernetfs command's).
func exitStatusFor(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrWrongPassword):
		return 3
	case errors.Is(err, ErrNotVault), errors.Is(err, ErrMalformedHeader), errors.Is(err, ErrUnsupported):
		return 4
	case errors.Is(err, ErrHeaderTampered), errors.Is(err, ErrCorrupt):
		return 5
	}
	return 1
}

// TestPythonRecoveryHeaders puts each header of headerCases and
// unlockCases (each that parses also with a wrong password) into a copy
// of the frozen vault: recover.py must end as Unlock does (the same exit
// status, one line of error), and restore the frozen tree where Unlock
// succeeds.
func TestPythonRecoveryHeaders(t *testing.T) {
	pythonWithCryptography(t)
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(headerCases(t), unlockCases(t)...) {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			// A header that does not parse is all either reader looks at.
			dir := filepath.Join(t.TempDir(), "vault")
			passwords := [][]byte{pw}
			if _, err := ParseHeader([]byte(c.text)); err == nil {
				if out, err := exec.Command("cp", "-a", frozenVault, dir).CombinedOutput(); err != nil {
					t.Fatalf("cp: %v: %s", err, out)
				}
				passwords = append(passwords, []byte("wrong password"))
			} else if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, HeaderName)
			os.Remove(path)
			if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, password := range passwords {
				_, err := Unlock(dir, Credential{Password: password})
				want := exitStatusFor(err)
				out := filepath.Join(t.TempDir(), "restored")
				got, msg := recoverStatus(t, dir, out, password)
				if got != want {
					t.Fatalf("recover.py exit status %d, want %d (Unlock: %v)\n%s", got, want, err, msg)
				}
				if want != 0 && (strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "recover.py: ")) {
					t.Fatalf("recover.py did not fail with one line:\n%s", msg)
				}
				if want == 0 {
					compareTrees(t, plainTree(t, out), plainTree(t, frozenPlain))
				}
			}
		})
	}
}

// TestPythonRecoveryHeaderNotRegular plants in place of fernetfs.json
// what TestReadHeaderNotRegular does: recover.py must report a
// malformed header at once (no hang on a FIFO, no endless read).
func TestPythonRecoveryHeaderNotRegular(t *testing.T) {
	pythonWithCryptography(t)
	cases := map[string]func(path string) error{
		"fifo":            func(p string) error { return unix.Mkfifo(p, 0o600) },
		"symlink to zero": func(p string) error { return os.Symlink("/dev/zero", p) },
		"symlink to header": func(p string) error {
			abs, err := filepath.Abs(filepath.Join(frozenVault, HeaderName))
			if err != nil {
				return err
			}
			return os.Symlink(abs, p)
		},
		"directory": func(p string) error { return os.Mkdir(p, 0o700) },
		"device": func(p string) error {
			return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3)))
		},
		"1 GiB file": func(p string) error {
			if err := os.WriteFile(p, []byte(frozenHeader(t)), 0o600); err != nil {
				return err
			}
			return os.Truncate(p, 1<<30)
		},
	}
	for name, plant := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			if err := plant(filepath.Join(dir, HeaderName)); err != nil {
				if errors.Is(err, unix.EPERM) && os.Getenv("CI") == "" {
					t.Skipf("not allowed here: %v", err)
				}
				t.Fatal(err)
			}
			if _, err := ReadHeader(dir); !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("ReadHeader: %v", err)
			}
			got, msg := recoverStatus(t, dir, filepath.Join(dir, "out"), []byte("pw"))
			if got != 4 || !strings.Contains(msg, "malformed vault header") || strings.Count(msg, "\n") != 1 {
				t.Fatalf("recover.py exit status %d, want 4:\n%s", got, msg)
			}
		})
	}
	empty := t.TempDir()
	got, msg := recoverStatus(t, empty, filepath.Join(empty, "out"), []byte("pw"))
	if got != 4 || !strings.Contains(msg, "not a fernetfs vault") {
		t.Fatalf("recover.py on an empty directory: exit status %d\n%s", got, msg)
	}
	cmd := exec.Command(pythonWithCryptography(t), recoverScript, frozenVault, filepath.Join(empty, "out"))
	cmd.Env = slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "FERNETFS_PASSWORD=") })
	if out, err := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("recover.py without FERNETFS_PASSWORD: %v\n%s", err, out)
	}
}

// goContentVerdict is what the Go reader makes of a backing file: its
// plaintext, or ok false if the size, a chunk or the file header is
// damaged.
func goContentVerdict(v *Vault, raw []byte) (plain []byte, ok bool) {
	c := v.OpenContent(&memBacking{data: bytes.Clone(raw)}, "/damaged")
	size, err := c.Size()
	if err != nil {
		return nil, false
	}
	buf := make([]byte, size)
	if n, err := c.ReadAt(buf, 0); (err != nil && err != io.EOF) || n != len(buf) {
		return nil, false
	}
	if c.Check(nil) != nil {
		return nil, false
	}
	return buf, true
}

// TestPythonRecoveryContentDamage gives recover.py one vault holding
// every damaged form of a content file that the Go reader's corruption
// tests make (each bit of the file flipped, cuts, appended bytes, wrong
// trailing newlines, moved, swapped and NUL lines, header edits): each
// file must be restored exactly when the Go reader reads it, and
// otherwise be left out and reported on one line, with exit status 5.
func TestPythonRecoveryContentDamage(t *testing.T) {
	pythonWithCryptography(t)
	v := newTestVault(t, CreateOptions{ChunkSize: 64, PlaintextNames: true})
	r := rand.New(rand.NewPCG(9, 9))
	lay := newLayout(64)
	F := int(lay.line)
	rawOf := func(data []byte) []byte {
		name := fmt.Sprintf("src%d", r.Uint64())
		writeTree(t, v, map[string]treeEntry{name: {0, string(data)}})
		backing, err := v.ResolvePath(name)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(backing)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	raw := rawOf(randBytes(r, 3*64+10))
	other := rawOf(randBytes(r, 3*64+10))
	line := func(b []byte, i int64) []byte { return b[lay.lineOff(i):lay.lineOff(i+1)] }
	edited := func(b []byte, edit func(b []byte)) []byte {
		b = bytes.Clone(b)
		edit(b)
		return b
	}
	cases := map[string][]byte{
		"intact":                raw,
		"empty":                 {},
		"header only":           raw[:fileHeaderLen],
		"other chunk":           edited(raw, func(b []byte) { copy(line(b, 1), line(other, 1)) }),
		"other header":          edited(raw, func(b []byte) { copy(b, other[:fileHeaderLen]) }),
		"swapped":               edited(raw, func(b []byte) { copy(line(b, 0), line(raw, 1)); copy(line(b, 1), line(raw, 0)) }),
		"hole":                  edited(raw, func(b []byte) { clear(line(b, 1)) }),
		"hole with a byte":      edited(raw, func(b []byte) { clear(line(b, 1)); line(b, 1)[70] = 'x' }),
		"hole without LF":       edited(raw, func(b []byte) { clear(line(b, 1)); line(b, 1)[F-1] = '\n' }),
		"NUL before a token":    edited(raw, func(b []byte) { copy(line(b, 1)[1:], line(raw, 1)[:F-1]); line(b, 1)[0] = 0 }),
		"last chunk a hole":     edited(raw, func(b []byte) { clear(b[lay.lineOff(3):]) }),
		"cut to fit":            append(bytes.Clone(raw[:lay.lineOff(2)]), bytes.Repeat([]byte{'\n'}, 15)...),
		"upper-case file ID":    edited(raw, func(b []byte) { copy(b[12:], bytes.ToUpper(b[12:44])) }),
		"space in file ID":      edited(raw, func(b []byte) { b[20] = ' ' }),
		"second magic":          edited(raw, func(b []byte) { b[10] = '2' }),
		"CR before LF":          edited(raw, func(b []byte) { b[43] = '\r' }),
		"space for the last LF": append(bytes.Clone(raw[:len(raw)-1]), ' '),
	}
	// Chunks sealed with the file's key that no writer makes.
	fileID, err := hex.DecodeString(string(raw[len(fileMagic) : fileHeaderLen-1]))
	if err != nil {
		t.Fatal(err)
	}
	seal := func(plain []byte, ts uint64) []byte {
		return v.keys.ContentKey(fileID).NewCodec().Seal(nil, plain, ts, nil)
	}
	const final = uint64(1) << 63
	pads := bytes.Repeat([]byte{'\n'}, 16)
	cases["last chunk of 0 bytes"] = slices.Concat(raw[:fileHeaderLen], seal(nil, final), pads)
	cases["last chunk over C bytes"] = slices.Concat(raw[:fileHeaderLen], seal(make([]byte, 80), final), pads)
	cases["short chunk before the last"] = slices.Concat(raw[:fileHeaderLen], seal(make([]byte, 48), 0),
		bytes.Repeat([]byte{'\n'}, F-fernet.TokenLen(48)), seal([]byte("x"), 1|final), pads[:15])
	for pos := range raw {
		cases[fmt.Sprintf("flip %d", pos)] = edited(raw, func(b []byte) { b[pos] ^= 1 << (pos % 8) })
	}
	for cut := 1; cut <= 2*F+20; cut++ {
		cases[fmt.Sprintf("cut %d", cut)] = raw[:len(raw)-cut]
	}
	for extra := 1; extra <= F+2; extra++ {
		cases[fmt.Sprintf("%d LF appended", extra)] = append(bytes.Clone(raw), bytes.Repeat([]byte{'\n'}, extra)...)
		cases[fmt.Sprintf("%d NUL appended", extra)] = append(bytes.Clone(raw), make([]byte, extra)...)
	}
	for L := 1; L <= 64; L++ {
		short := rawOf(randBytes(r, 64+L))
		cases[fmt.Sprintf("L=%d", L)] = short
		cases[fmt.Sprintf("L=%d one LF more", L)] = append(bytes.Clone(short), '\n')
		cases[fmt.Sprintf("L=%d one LF less", L)] = short[:len(short)-1]
	}

	// Each case is a file of v (plaintext names: the backing name is the
	// plaintext name) named after it.
	for name, b := range cases {
		if err := os.WriteFile(filepath.Join(v.Dir(), "case "+name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "restored")
	status, msg := recoverStatus(t, v.Dir(), out, []byte("pw"))
	damaged := 0
	for name, b := range cases {
		want, ok := goContentVerdict(v, b)
		got, err := os.ReadFile(filepath.Join(out, "case "+name))
		reported := strings.Contains(msg, fmt.Sprintf("recover.py: '/case %s': ", name))
		switch {
		case ok && (err != nil || !bytes.Equal(got, want) || reported):
			t.Errorf("%s: the Go reader reads it, recover.py restored %d bytes (%v), reported: %v", name, len(got), err, reported)
		case !ok && (err == nil || !reported):
			t.Errorf("%s: the Go reader rejects it, recover.py restored it (%v) or did not report it (%v)", name, err, reported)
		case !ok:
			damaged++
		}
	}
	// Nothing else: no partial file, no temporary file left behind.
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, isCase := strings.CutPrefix(e.Name(), "case ")
		if _, ok := goContentVerdict(v, cases[name]); isCase && !ok || !isCase && !strings.HasPrefix(name, "src") {
			t.Errorf("recover.py left %q in OUTDIR", e.Name())
		}
	}
	if status != 5 || strings.Count(msg, "\n") != damaged {
		t.Errorf("recover.py: exit status %d, %d lines for %d damaged files:\n%s", status, strings.Count(msg, "\n"), damaged, msg)
	}
}

// TestPythonRecoveryBoundedMemory restores a file of 40 MiB with
// recover.py's address space limited to 24 MiB beyond what the
// interpreter holds with its modules loaded: a recovery must stream
// content (a 20 GB video on a small machine), never hold a file whole.
func TestPythonRecoveryBoundedMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the limit is RLIMIT_AS, measured in /proc/self/statm")
	}
	py := pythonWithCryptography(t)
	v := newTestVault(t, CreateOptions{})
	data := make([]byte, 40<<20)
	r := rand.New(rand.NewPCG(4, 2))
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], r.Uint64())
	}
	clear(data[1<<20 : 2<<20]) // holes too
	writeTree(t, v, map[string]treeEntry{"big": {0, string(data)}})
	// The limit counts from the interpreter with the script's modules
	// loaded, so it holds whatever the Python build maps at start.
	const limited = `import resource, runpy, sys
import base64, cryptography.fernet, hashlib, hmac, json, re, struct, tempfile
from cryptography.hazmat.primitives.kdf import hkdf, pbkdf2
with open("/proc/self/statm") as f:
    limit = int(f.read().split()[0]) * resource.getpagesize() + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
`
	out := filepath.Join(t.TempDir(), "restored")
	cmd := exec.Command(py, "-c", limited, fmt.Sprint(24<<20), recoverScript, v.Dir(), out)
	cmd.Env = append(os.Environ(), "FERNETFS_PASSWORD=pw")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("recover.py with a bounded address space: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(filepath.Join(out, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("restored file differs")
	}
}

// goTree is the plaintext tree Walk finds in v (directories, and
// symlinks whose target decrypts; files are listed with empty content),
// and how many entries it rejects (orphaned long-name sidecars aside:
// only fsck and decrypt report those, recover.py ignores them as the
// mount does).
func goTree(t *testing.T, v *Vault) (map[string]treeEntry, int) {
	t.Helper()
	tree, bad := map[string]treeEntry{}, 0
	err := v.Walk(func(e WalkEntry) error {
		switch {
		case e.Err != nil:
			if !errors.Is(e.Err, ErrOrphanSidecar) {
				bad++
			}
		case e.Path == "":
		case e.Info.IsDir():
			tree[e.Path] = treeEntry{kind: fs.ModeDir}
		case e.Info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(e.BackingPath)
			if err != nil {
				t.Fatal(err)
			}
			if target, err := v.DecryptSymlink(link); err == nil {
				tree[e.Path] = treeEntry{fs.ModeSymlink, target}
			} else {
				bad++
			}
		default:
			tree[e.Path] = treeEntry{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree, bad
}

// TestPythonRecoveryNameDamage damages names, directory IVs, long-name
// sidecars and symlinks of a copy of one vault in each way FORMAT.md
// says readers reject (or, for conflict copies, accept): recover.py
// must restore exactly the entries Walk gives and the link targets
// DecryptSymlink gives, and report each other one on a line, with exit
// status 5.
func TestPythonRecoveryNameDamage(t *testing.T) {
	pythonWithCryptography(t)
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	long, long2 := strings.Repeat("L", 200), strings.Repeat("M", 200)
	writeTree(t, v, map[string]treeEntry{
		"a.txt":      {0, "a"},
		"d":          {kind: fs.ModeDir},
		"d/b.txt":    {0, "b"},
		"d/" + long:  {0, "long name"},
		"e":          {kind: fs.ModeDir},
		"e/c.txt":    {0, "c"},
		"link":       {fs.ModeSymlink, "a.txt"},
		"d/longlink": {fs.ModeSymlink, strings.Repeat("t", 3008)},
		"d/" + long2: {0, "long name 2"},
		"longlink2":  {fs.ModeSymlink, strings.Repeat("u", 3008)},
	})
	backing := func(dir, p string) string {
		return filepath.Join(dir, mustResolve(t, v, p))
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// seal is the backing name of plain in the backing directory dir
	// (timestamp ts: 0 for every valid name).
	seal := func(dir, plain string, ts uint64) string {
		iv, err := os.ReadFile(filepath.Join(dir, DirIVName))
		must(err)
		m := hmac.New(sha256.New, v.keys.NameIVKey())
		m.Write(iv)
		m.Write([]byte(plain))
		return string(v.keys.NameKey().NewCodec().Seal(nil, []byte(plain), ts, m.Sum(nil)[:16]))
	}
	// padBits spells a token with the pad bits of its last character
	// set: the same bytes to a lenient base64 decoder.
	padBits := func(tok string) string {
		s := strings.TrimRight(tok, "=")
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[last|1]) + tok[len(s):]
	}
	rename := func(from, to string) { must(os.Rename(from, to)) }
	cases := map[string]func(dir string){
		"intact": func(string) {},
		"name with pad bits": func(dir string) {
			b := backing(dir, "a.txt")
			rename(b, filepath.Join(filepath.Dir(b), padBits(filepath.Base(b))))
		},
		"name moved to another directory": func(dir string) {
			b := backing(dir, "a.txt")
			rename(b, filepath.Join(backing(dir, "d"), filepath.Base(b)))
		},
		"name sealed in another directory, its IV a conflict copy": func(dir string) {
			b := backing(dir, "e/c.txt")
			rename(b, filepath.Join(backing(dir, "d"), filepath.Base(b)))
			iv, err := os.ReadFile(filepath.Join(backing(dir, "e"), DirIVName))
			must(err)
			must(os.WriteFile(filepath.Join(backing(dir, "d"), DirIVName+".sync-conflict-20261204-101500-ABCDEFG"), iv, 0o400))
		},
		"conflict copies": func(dir string) {
			b := backing(dir, "a.txt")
			must(os.Link(b, b+".conflict7"))
			must(os.Link(b, b+" (laptop's conflicted copy 2026-12-04)"))
			must(os.Link(b, b+" (\xffnot UTF-8's conflicted copy 2026-12-04)"))
			l := backing(dir, "d/"+long)
			must(os.Link(l, l+".conflict1"))
		},
		"name with a non-zero timestamp": func(dir string) {
			b := backing(dir, "a.txt")
			rename(b, filepath.Join(filepath.Dir(b), seal(filepath.Dir(b), "a.txt", 1)))
		},
		"names that no directory can hold": func(dir string) {
			for _, name := range []string{"", ".", "..", "x/y", "nul\x00"} {
				must(os.WriteFile(filepath.Join(dir, seal(dir, name, 0)), nil, 0o600))
			}
		},
		"long name sidecar changed": func(dir string) {
			sc := backing(dir, "d/"+long) + longNameSuffix
			tok, err := os.ReadFile(sc)
			must(err)
			tok[len(tok)-5] ^= 1
			must(os.Chmod(sc, 0o600))
			must(os.WriteFile(sc, tok, 0o600))
		},
		"long name sidecars swapped": func(dir string) {
			sc, sc2 := backing(dir, "d/"+long)+longNameSuffix, backing(dir, "d/"+long2)+longNameSuffix
			rename(sc, sc+".tmp")
			rename(sc2, sc)
			rename(sc+".tmp", sc2)
		},
		"long link sidecars swapped": func(dir string) {
			target, err := os.Readlink(backing(dir, "d/longlink"))
			must(err)
			target2, err := os.Readlink(backing(dir, "longlink2"))
			must(err)
			sc, sc2 := filepath.Join(dir, target), filepath.Join(dir, target2)
			rename(sc, sc+".tmp")
			rename(sc2, sc)
			rename(sc+".tmp", sc2)
		},
		"long name sidecar a symlink": func(dir string) {
			sc := backing(dir, "d/"+long) + longNameSuffix
			rename(sc, sc+".real")
			must(os.Symlink(filepath.Base(sc)+".real", sc))
		},
		"long name sidecar a FIFO": func(dir string) {
			sc := backing(dir, "d/"+long) + longNameSuffix
			must(os.Remove(sc))
			must(unix.Mkfifo(sc, 0o600))
		},
		"short name in the long form": func(dir string) {
			b := backing(dir, "a.txt")
			tok := filepath.Base(b)
			ln := longNameFor([]byte(tok))
			rename(b, filepath.Join(dir, ln))
			must(os.WriteFile(filepath.Join(dir, ln+longNameSuffix), []byte(tok), 0o400))
		},
		"malformed long name": func(dir string) {
			must(os.WriteFile(filepath.Join(dir, LongNamePrefix+"short"), nil, 0o600))
		},
		"directory IV a symlink": func(dir string) {
			iv := filepath.Join(backing(dir, "d"), DirIVName)
			rename(iv, iv+".real")
			must(os.Symlink(DirIVName+".real", iv))
		},
		"directory IV of 17 bytes": func(dir string) {
			iv := filepath.Join(backing(dir, "d"), DirIVName)
			must(os.Chmod(iv, 0o600))
			f, err := os.OpenFile(iv, os.O_APPEND|os.O_WRONLY, 0)
			must(err)
			_, err = f.Write([]byte{0})
			must(err)
			must(f.Close())
		},
		"directory a symlink out of the tree": func(dir string) {
			b := backing(dir, "e")
			must(os.RemoveAll(b))
			must(os.Symlink(backing(dir, "d"), b))
		},
		"file a symlink out of the tree": func(dir string) {
			b := backing(dir, "a.txt")
			must(os.Remove(b))
			must(os.Symlink(backing(dir, "d/b.txt"), b))
		},
		"symlink target with pad bits": func(dir string) {
			b := backing(dir, "link")
			target, err := os.Readlink(b)
			must(err)
			must(os.Remove(b))
			must(os.Symlink(padBits(target), b))
		},
		"long link sidecar changed": func(dir string) {
			target, err := os.Readlink(backing(dir, "d/longlink"))
			must(err)
			sc := filepath.Join(dir, target)
			tok, err := os.ReadFile(sc)
			must(err)
			tok[100] ^= 1
			must(os.Chmod(sc, 0o600))
			must(os.WriteFile(sc, tok, 0o600))
		},
		"short link target in the long form": func(dir string) {
			b := backing(dir, "link")
			tok, err := os.Readlink(b)
			must(err)
			ll := longLinkFor([]byte(tok))
			must(os.WriteFile(filepath.Join(dir, ll), []byte(tok), 0o400))
			must(os.Remove(b))
			must(os.Symlink(ll, b))
		},
	}
	for name, damage := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vault")
			if out, err := exec.Command("cp", "-a", v.Dir(), dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			damage(dir)
			copyV, err := Unlock(dir, Credential{Password: []byte("pw")})
			if err != nil {
				t.Fatal(err)
			}
			want, bad := goTree(t, copyV)
			out := filepath.Join(t.TempDir(), "restored")
			status, msg := recoverStatus(t, dir, out, []byte("pw"))
			got := plainTree(t, out)
			for p, e := range got {
				if e.kind == 0 {
					got[p] = treeEntry{}
				}
			}
			compareTrees(t, got, want)
			if lines := strings.Count(msg, "\n"); lines != bad || (status == 5) != (bad > 0) || (status != 0 && status != 5) {
				t.Fatalf("recover.py: exit status %d, %d lines for the %d entries Walk rejects:\n%s", status, lines, bad, msg)
			}
		})
	}
}

// TestPythonRecoveryKey restores the frozen vault with its recovery key
// instead of the password, and checks that recover.py ends as Unlock
// does for a mistyped key, the key of another vault, and both
// credentials at once.
func TestPythonRecoveryKey(t *testing.T) {
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unlock(frozenVault, Credential{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	key := v.RecoveryKey()
	_, otherKey, err := Create(t.TempDir(), []byte("other"), CreateOptions{Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	typo := []byte(key)
	typo[0] = map[bool]byte{true: 'B', false: 'A'}[typo[0] == 'A']
	for _, tc := range []struct {
		name string
		env  []string
		want int
		msg  string // in the error line
	}{
		{"key", []string{"FERNETFS_RECOVERY_KEY=" + key}, 0, ""},
		{"lower case, spaces", []string{"FERNETFS_RECOVERY_KEY= " + strings.ToLower(strings.ReplaceAll(key, "-", " ")) + "\n"}, 0, ""},
		{"typo", []string{"FERNETFS_RECOVERY_KEY=" + string(typo)}, 3, "checksum mismatch"},
		{"short", []string{"FERNETFS_RECOVERY_KEY=" + key[:len(key)-2]}, 3, "expected 56 base32 characters"},
		{"other vault", []string{"FERNETFS_RECOVERY_KEY=" + otherKey}, 3, "does not match this vault"},
		{"both", []string{"FERNETFS_RECOVERY_KEY=" + key, "FERNETFS_PASSWORD=" + string(pw)}, 2, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != 0 {
				cred := strings.TrimPrefix(tc.env[0], "FERNETFS_RECOVERY_KEY=")
				if tc.want == 3 {
					if _, err := Unlock(frozenVault, Credential{RecoveryKey: cred}); exitStatusFor(err) != 3 && !errors.Is(err, ErrBadRecoveryKey) {
						t.Fatalf("Unlock with %q: %v, want a wrong or malformed recovery key", cred, err)
					}
				}
			}
			out := filepath.Join(t.TempDir(), "restored")
			got, stderr := recoverWithEnv(t, frozenVault, out, tc.env...)
			if got != tc.want {
				t.Fatalf("exit status %d, want %d\n%s", got, tc.want, stderr)
			}
			if tc.want == 0 {
				compareTrees(t, plainTree(t, out), plainTree(t, frozenPlain))
			} else if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("want one line of error with %q, got:\n%s", tc.msg, stderr)
			}
		})
	}
}
