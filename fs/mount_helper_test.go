package fs

import (
	"bufio"
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fernetfs/fernetfs/vault"
)

// testPassword unlocks every test vault.
var testPassword = []byte("test password")

// requireFuse skips the test on machines without /dev/fuse; everywhere
// else a mount failure is a test failure.
func requireFuse(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
}

// newTestVault creates a vault with a cheap KDF in a fresh directory.
func newTestVault(t testing.TB, co vault.CreateOptions) (backing string, v *vault.Vault) {
	t.Helper()
	if co.Iterations == 0 {
		co.Iterations = 1000
	}
	backing = filepath.Join(t.TempDir(), "backing")
	if err := os.Mkdir(backing, 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, err := vault.Create(backing, testPassword, co)
	if err != nil {
		t.Fatal(err)
	}
	return backing, v
}

// syncBuffer is a log sink tests can read while the mount writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testMount is one in-process mount made by mountVault.
type testMount struct {
	dir    string
	server *fuse.Server
	log    *syncBuffer
	// v's journal is stopped at the first unmount.
	v       *vault.Vault
	stopped bool
}

// mountVault mounts v at a fresh directory and unmounts it in
// t.Cleanup, failing the test if the mount is still there afterwards.
// Unless opts.Logger is set, the mount's log is captured and shown with
// the test's output.
func mountVault(t testing.TB, v *vault.Vault, opts Options) *testMount {
	t.Helper()
	requireFuse(t)
	m := &testMount{dir: filepath.Join(t.TempDir(), "mnt"), log: &syncBuffer{}}
	if err := os.Mkdir(m.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = log.New(m.log, "", 0)
	}
	srv, err := Mount(v, m.dir, opts)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	m.server = srv
	m.v = v
	t.Cleanup(func() {
		m.unmount(t)
		if s := m.log.String(); s != "" {
			t.Logf("mount log:\n%s", s)
		}
	})
	return m
}

// unmount unmounts (idempotently) and fails the test if the mountpoint
// is still mounted; a busy mount is detached so later tests can run.
func (m *testMount) unmount(t testing.TB) {
	t.Helper()
	var err error
	for i := 0; i < 20; i++ {
		if err = m.server.Unmount(); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("unmount %s: %v", m.dir, err)
		syscall.Unmount(m.dir, syscall.MNT_DETACH)
	}
	if isMounted(t, m.dir) {
		t.Errorf("%s is still mounted after unmount", m.dir)
		syscall.Unmount(m.dir, syscall.MNT_DETACH)
	}
	if !m.stopped && m.v != nil {
		m.stopped = true
		if err := m.v.StopJournal(); err != nil {
			t.Errorf("removing the journal: %v", err)
		}
	}
}

// isMounted reports whether dir is a mountpoint in /proc/self/mounts.
func isMounted(t testing.TB, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && unescapeMount(fields[1]) == dir {
			return true
		}
	}
	return false
}

// unescapeMount undoes the octal escapes /proc/self/mounts uses for
// spaces and the like.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			ok := true
			for _, d := range s[i+1 : i+4] {
				if d < '0' || d > '7' {
					ok = false
					break
				}
				c = c*8 + byte(d-'0')
			}
			if ok {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountTest creates a vault and mounts it: the usual start of a test.
// It returns the mountpoint, the backing directory and the vault (for
// remounting with mountVault or checking BACKING directly).
func mountTest(t testing.TB, opts Options) (mnt, backing string, v *vault.Vault) {
	t.Helper()
	requireFuse(t)
	backing, v = newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, opts)
	return m.dir, backing, v
}

// assertNoPlaintext fails if any file, name or symlink target in
// backing contains needle.
func assertNoPlaintext(t testing.TB, backing string, needle []byte) {
	t.Helper()
	err := filepath.Walk(backing, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if bytes.Contains([]byte(info.Name()), needle) {
			t.Errorf("backing name %s contains plaintext %q", p, needle)
		}
		switch {
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(data, needle) {
				t.Errorf("backing file %s contains plaintext %q", p, needle)
			}
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if bytes.Contains([]byte(target), needle) {
				t.Errorf("backing symlink %s contains plaintext %q", p, needle)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
