package fs

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// posixSkip is why a posixtest cannot pass on fernetfs, or may skip
// itself. failsLocally marks a test that fails on a local filesystem
// too (a bug in the test, not in fernetfs); skipsLocally marks a test
// that skips itself on fernetfs because it skips on the backing
// filesystem too. TestPosixtestLocalBehaviour proves both claims on
// this machine, so a fixed upstream test or a better backing
// filesystem gets the test run. A posixtest that skips itself without
// skipsLocally fails TestPosixtest: nothing is skipped silently.
type posixSkip struct {
	reason       string
	failsLocally bool
	skipsLocally bool
}

// posixPinned names every test in posixtest.All of the go-fuse version
// in go.mod (v2.12.1, Linux; All gains FallocateKeepSize and Tmpfile on
// Linux), each with the reason it is skipped, or the zero posixSkip if
// it must pass. A go-fuse upgrade that adds a test makes
// TestPosixtestPinned fail until the new test is listed here, so no
// conformance test is ever silently left out.
var posixPinned = map[string]posixSkip{
	"AppendWrite":       {},
	"DirSeek":           {},
	"DirectIO":          {},
	"Fallocate":         {},
	"FallocateKeepSize": {},
	"FcntlFlockLocksFile": {
		reason: "the test is wrong: it expects a second F_SETLK from the same process to conflict, " +
			"but POSIX record locks belong to the process, so it fails on every local filesystem " +
			"(go-fuse's own TestAll skips it with a TODO); TestFcntlLocksConflict checks the intended behaviour",
		failsLocally: true,
	},
	"FcntlFlockSetLk":            {},
	"FdLeak":                     {},
	"FileBasic":                  {},
	"FileLarge":                  {},
	"FstatDeleted":               {},
	"Link":                       {},
	"LinkUnlinkRename":           {},
	"LseekEnxioCheck":            {},
	"LseekHoleSeeksToEOF":        {},
	"MkdirRmdir":                 {},
	"NlinkZero":                  {},
	"OpenAt":                     {},
	"OpenSymlinkRace":            {},
	"ParallelFileOpen":           {},
	"ReadDirBasic":               {},
	"ReadDirConsistency":         {},
	"RenameOpenDir":              {},
	"RenameOverwriteDestExist":   {},
	"RenameOverwriteDestNoExist": {},
	"SetattrSymlink":             {},
	"SymlinkReadlink":            {},
	"Tmpfile":                    {},
	"TruncateFile":               {},
	"TruncateNoFile":             {},
	"XAttr":                      {},
	"XAttrLarge": {
		reason: "may skip itself: its 8315-byte value does not fit in one xattr of the backing filesystem " +
			"(ext4 without ea_inode holds one block), even before encryption makes it a third larger",
		skipsLocally: true,
	},
}

// TestPosixtestPinned fails on any posixtest.All name the pin list does
// not know, and on a pinned name that no longer exists (a stale pin
// would hide that a test was renamed).
func TestPosixtestPinned(t *testing.T) {
	for name := range posixtest.All {
		if _, ok := posixPinned[name]; !ok {
			t.Errorf("posixtest.%s is not in posixPinned: decide whether it must pass and list it", name)
		}
	}
	for name := range posixPinned {
		if _, ok := posixtest.All[name]; !ok {
			t.Errorf("posixPinned lists %s, which posixtest.All no longer has", name)
		}
	}
}

// posixConfigs are the vault layouts the conformance tests run on:
// the default, a tiny chunk size (so every test crosses many chunk
// boundaries) and plaintext names.
var posixConfigs = []struct {
	name string
	co   vault.CreateOptions
}{
	{"default", vault.CreateOptions{}},
	{"chunk64", vault.CreateOptions{ChunkSize: 64}},
	{"plainnames", vault.CreateOptions{PlaintextNames: true}},
}

// TestPosixtest runs every test of go-fuse's posixtest.All, each on a
// fresh mount of a fresh vault, in every posixConfigs layout.
func TestPosixtest(t *testing.T) {
	requireFuse(t)
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, cfg := range posixConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			for _, name := range names {
				t.Run(name, func(t *testing.T) {
					pin, pinned := posixPinned[name]
					if !pinned {
						t.Fatalf("posixtest.%s is not pinned (see TestPosixtestPinned)", name)
					}
					if pin.reason != "" && !pin.skipsLocally {
						t.Skip(pin.reason)
					}
					_, v := newTestVault(t, cfg.co)
					m := mountVault(t, v, Options{})
					dir := filepath.Join(m.dir, "t")
					if err := os.Mkdir(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					var inner *testing.T
					t.Run("run", func(t *testing.T) {
						inner = t
						posixtest.All[name](t, dir)
					})
					if inner.Skipped() && !pin.skipsLocally {
						t.Errorf("posixtest.%s skipped itself on fernetfs; fix the cause or pin it with its reason", name)
					}
				})
			}
		})
	}
}

// posixLocalEnv makes TestPosixtestLocalBehaviour, in a child
// process, run the named posixtest on a plain temporary directory.
const posixLocalEnv = "FERNETFS_POSIXTEST_LOCAL"

// TestPosixtestLocalBehaviour checks the claims of the pin list: a
// test marked failsLocally must fail on a plain directory of the
// machine's own filesystem as well, and one marked skipsLocally must
// skip there. It runs the posixtest in a child process (a failing or
// skipping *testing.T cannot be caught in-process); when upstream fixes
// a test, or the filesystem changes, this fails and asks for the pin to
// go.
func TestPosixtestLocalBehaviour(t *testing.T) {
	if name := os.Getenv(posixLocalEnv); name != "" {
		posixtest.All[name](t, t.TempDir())
		return
	}
	for name, pin := range posixPinned {
		if !pin.failsLocally && !pin.skipsLocally {
			continue
		}
		out, err := runHelperErr("", []string{posixLocalEnv + "=" + name},
			"-test.run=^TestPosixtestLocalBehaviour$", "-test.v")
		switch {
		case pin.failsLocally && err == nil:
			t.Errorf("posixtest.%s passes on a local directory now; drop its skip:\n%s", name, out)
		case pin.failsLocally && !strings.Contains(out, "--- FAIL: TestPosixtestLocalBehaviour"):
			t.Errorf("posixtest.%s: child did not fail in the test itself: %v\n%s", name, err, out)
		case pin.skipsLocally && (err != nil || !strings.Contains(out, "--- SKIP: TestPosixtestLocalBehaviour")):
			t.Errorf("posixtest.%s does not skip on a local directory (%v), so fernetfs must pass it; drop skipsLocally:\n%s", name, err, out)
		}
	}
}

// TestFcntlLocksConflict is what posixtest.FcntlFlockLocksFile means to
// check, done right: a write lock conflicts with a read lock of another
// owner, whether the owner is another open file description (OFD locks,
// flock) or another process (POSIX record locks, probed by a child).
func TestFcntlLocksConflict(t *testing.T) {
	mnt, _, _ := mountTest(t, Options{})
	p := filepath.Join(mnt, "locked")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f1, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()

	wr := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f1.Fd(), unix.F_OFD_SETLK, &wr); err != nil {
		t.Fatalf("OFD write lock: %v", err)
	}
	rd := unix.Flock_t{Type: unix.F_RDLCK}
	if err := unix.FcntlFlock(f2.Fd(), unix.F_OFD_SETLK, &rd); err != unix.EAGAIN {
		t.Errorf("OFD read lock against another description's write lock: %v, want EAGAIN", err)
	}
	un := unix.Flock_t{Type: unix.F_UNLCK}
	if err := unix.FcntlFlock(f1.Fd(), unix.F_OFD_SETLK, &un); err != nil {
		t.Fatal(err)
	}
	if err := unix.FcntlFlock(f2.Fd(), unix.F_OFD_SETLK, &rd); err != nil {
		t.Errorf("OFD read lock after unlock: %v", err)
	}
	if err := unix.FcntlFlock(f2.Fd(), unix.F_OFD_SETLK, &un); err != nil {
		t.Fatal(err)
	}

	if err := unix.Flock(int(f1.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock: %v", err)
	}
	if err := unix.Flock(int(f2.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != unix.EWOULDBLOCK {
		t.Errorf("flock LOCK_SH against LOCK_EX: %v, want EWOULDBLOCK", err)
	}
	if err := unix.Flock(int(f1.Fd()), unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}

	if err := unix.FcntlFlock(f1.Fd(), unix.F_SETLK, &wr); err != nil {
		t.Fatalf("POSIX write lock: %v", err)
	}
	out, err := runHelperErr("setlk-probe", nil, p)
	if err != nil {
		t.Errorf("child's read lock against our write lock: %v\n%s", err, out)
	}
	if err := unix.FcntlFlock(f1.Fd(), unix.F_SETLK, &un); err != nil {
		t.Fatal(err)
	}
	if out, err := runHelperErr("setlk-probe", []string{"FERNETFS_SETLK_WANT=ok"}, p); err != nil {
		t.Errorf("child's read lock after unlock: %v\n%s", err, out)
	}
}

// TestTmpfileLinkIntoPlace creates files with O_TMPFILE, writes them
// across chunk boundaries, links one into place through /proc/self/fd
// (the pattern posixtest.Tmpfile stops short of), and checks that the
// named file survives a remount, that an O_EXCL one cannot be linked,
// and that an unlinked one leaves nothing in BACKING after close.
func TestTmpfileLinkIntoPlace(t *testing.T) {
	requireFuse(t)
	backing, v := newTestVault(t, vault.CreateOptions{ChunkSize: 64})
	m := mountVault(t, v, Options{})
	g := newPlainGen(31)
	dir := filepath.Join(m.dir, "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	countBacking := func() int {
		t.Helper()
		n := 0
		filepath.WalkDir(backing, func(string, fs.DirEntry, error) error { n++; return nil })
		return n
	}
	empty := countBacking()

	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR, 0o640)
	if err != nil {
		t.Fatalf("O_TMPFILE: %v", err)
	}
	data := g.bytes(5*64 + 7)
	if _, err := unix.Pwrite(fd, data, 0); err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(dir, g.name("placed"))
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, named, unix.AT_SYMLINK_FOLLOW); err != nil {
		t.Fatalf("linking the O_TMPFILE file into place: %v", err)
	}
	more := g.bytes(64)
	if _, err := unix.Pwrite(fd, more, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	want := append(slices.Clone(data), more...)
	expectContent(t, named, want)
	if fi, err := os.Stat(named); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("linked file: %v %v", fi, err)
	}

	fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, filepath.Join(dir, "never"), unix.AT_SYMLINK_FOLLOW)
	if err == nil {
		t.Error("an O_TMPFILE|O_EXCL file was linked")
	}
	unix.Close(fd)

	fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fd, g.bytes(1000)); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Errorf("directory holds %v (%v), want only the linked file", ents, err)
	}
	m.unmount(t)
	// One more backing entry than before: the linked file.
	if got := countBacking(); got != empty+1 {
		t.Errorf("BACKING has %d entries, %d before the temporary files (want only the linked file more)", got, empty)
	}
	m2 := mountVault(t, v, Options{})
	expectContent(t, filepath.Join(m2.dir, "d", g.name("placed")), want)
	g.assertBackingClean(t, backing)
}
