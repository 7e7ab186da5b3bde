package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// longLinkSidecars lists the long-link sidecars in BACKING's root.
func longLinkSidecars(t *testing.T, backing string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(backing, vault.LongLinkPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkLink(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.Readlink(p)
	if err != nil || got != want {
		t.Fatalf("readlink %s: %d bytes, %v (want %d bytes)", p, len(got), err, len(want))
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Size() != int64(len(want)) {
		t.Fatalf("lstat %s: %v, %v (want size %d)", p, fi, err, len(want))
	}
}

// TestLongSymlinkTarget: targets up to the kernel's 4095 bytes work
// through the mount (pjdfstest symlink/03), survive a remount, are not
// visible in BACKING, and their sidecar goes with the symlink's last
// link (unlink, rename over it), not before.
func TestLongSymlinkTarget(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	mnt := m.dir
	long := strings.Repeat("0123456789abcde/", 256) + "tail-of-4095"
	long = long[len(long)-4095:]
	other := strings.Repeat("x", 3008)
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}

	// pjdfstest symlink/03: a 4095-byte target, then unlink.
	l := filepath.Join(mnt, "d", "l")
	if err := os.Symlink(long, l); err != nil {
		t.Fatalf("symlink with a 4095-byte target: %v", err)
	}
	checkLink(t, l, long)
	if n := len(longLinkSidecars(t, backing)); n != 1 {
		t.Fatalf("%d sidecars after one long symlink", n)
	}
	assertNoPlaintext(t, backing, []byte("tail-of-4095"))
	if err := os.Remove(l); err != nil {
		t.Fatal(err)
	}
	if s := longLinkSidecars(t, backing); len(s) != 0 {
		t.Fatalf("unlink left the sidecar: %v", s)
	}
	if err := os.Symlink(long+"y", l); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("4096-byte target: %v, want ENAMETOOLONG", err)
	}

	// Hard links share the sidecar: it stays until the last one goes.
	if err := os.Symlink(long, l); err != nil {
		t.Fatal(err)
	}
	l2 := filepath.Join(mnt, "l2")
	if err := os.Link(l, l2); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l); err != nil {
		t.Fatal(err)
	}
	checkLink(t, l2, long)
	if n := len(longLinkSidecars(t, backing)); n != 1 {
		t.Fatalf("%d sidecars with one long symlink left", n)
	}
	// Renamed into another directory, it keeps its target.
	if err := os.Rename(l2, l); err != nil {
		t.Fatal(err)
	}
	checkLink(t, l, long)
	// Renaming another long symlink over it removes the replaced one's.
	l3 := filepath.Join(mnt, "l3")
	if err := os.Symlink(other, l3); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(l3, l); err != nil {
		t.Fatal(err)
	}
	if n := len(longLinkSidecars(t, backing)); n != 1 {
		t.Fatalf("%d sidecars after renaming over a long symlink, want 1", n)
	}
	if err := os.Symlink(long, l3); err != nil {
		t.Fatal(err)
	}

	m.unmount(t)
	mnt = mountVault(t, v, Options{}).dir
	checkLink(t, filepath.Join(mnt, "d", "l"), other)
	checkLink(t, filepath.Join(mnt, "l3"), long)
	for _, p := range []string{"d/l", "l3"} {
		if err := os.Remove(filepath.Join(mnt, p)); err != nil {
			t.Fatal(err)
		}
	}
	if s := longLinkSidecars(t, backing); len(s) != 0 {
		t.Fatalf("sidecars left after removing every long symlink: %v", s)
	}
	ents, err := os.ReadDir(mnt)
	if err != nil || len(ents) != 1 || ents[0].Name() != "d" {
		t.Fatalf("root lists %v, %v; want only d", ents, err)
	}
}
