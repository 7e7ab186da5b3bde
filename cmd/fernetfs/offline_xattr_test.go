package main

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// setVaultXattr stores an encrypted user.* attribute on a backing entry,
// as the mount's setxattr does.
func setVaultXattr(t *testing.T, v *vault.Vault, plain, name, value string) {
	t.Helper()
	bn, err := v.EncryptXattrName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(backingPath(t, v, plain), bn, v.EncryptXattrValue([]byte(value)), 0); err != nil {
		t.Fatal(err)
	}
}

// flipVaultXattr damages the stored value of one attribute.
func flipVaultXattr(t *testing.T, v *vault.Vault, plain, name string) {
	t.Helper()
	bn, err := v.EncryptXattrName(name)
	if err != nil {
		t.Fatal(err)
	}
	p := backingPath(t, v, plain)
	buf := make([]byte, 64<<10)
	n, err := unix.Lgetxattr(p, bn, buf)
	if err != nil {
		t.Fatal(err)
	}
	buf[n/2] ^= 1
	if err := unix.Lsetxattr(p, bn, buf[:n], 0); err != nil {
		t.Fatal(err)
	}
}

// xattrVault makes a vault whose file and directory carry attributes.
func xattrVault(t *testing.T) (string, *vault.Vault) {
	t.Helper()
	backing, v := newTestVault(t)
	mustCLI(t, "content\n", "fernetfs-put", backing, "docs/f.txt")
	setVaultXattr(t, v, "docs/f.txt", "user.comment", "hello")
	setVaultXattr(t, v, "docs/f.txt", "user.empty", "")
	setVaultXattr(t, v, "docs", "user.dirnote", "a directory")
	return backing, v
}

// TestFsckXattrs: fsck checks every attribute name and value like
// content, so a flipped value is a problem (exit 5) naming the file and
// the attribute.
func TestFsckXattrs(t *testing.T) {
	backing, v := xattrVault(t)
	if r := mustCLI(t, "", "fsck", backing); !strings.HasSuffix(r.stdout, "no problems\n") {
		t.Fatalf("fsck: %s", r.stdout)
	}
	flipVaultXattr(t, v, "docs/f.txt", "user.comment")
	r := runCLI(t, "", "fsck", backing)
	if r.code != exitCorruption {
		t.Fatalf("fsck of a flipped xattr value: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, `"/docs/f.txt": xattr: "user.comment": corrupt data`) ||
		!strings.Contains(r.stdout, ": 1 problem\n") {
		t.Fatalf("fsck output does not report the xattr:\n%s", r.stdout)
	}

	// --repair removes the attribute that does not decrypt, and only it.
	r = mustCLI(t, "", "fsck", "--repair", backing)
	if !strings.Contains(r.stdout, `repaired "/docs/f.txt": removed damaged xattr "user.comment"`) ||
		!strings.HasSuffix(r.stdout, "1 problem, 1 repaired\n") {
		t.Fatalf("fsck --repair:\n%s", r.stdout)
	}
	if r := mustCLI(t, "", "fsck", backing); !strings.HasSuffix(r.stdout, "no problems\n") {
		t.Fatalf("fsck after --repair: %s", r.stdout)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustCLI(t, "", "decrypt", backing, out)
	if _, err := getxattr(filepath.Join(out, "docs/f.txt"), "user.comment"); !isNoXattr(err) {
		t.Errorf("the damaged xattr is still there: %v", err)
	}
	for _, c := range []struct{ path, name, want string }{
		{"docs/f.txt", "user.empty", ""},
		{"docs", "user.dirnote", "a directory"},
	} {
		if got, err := getxattr(filepath.Join(out, c.path), c.name); err != nil || got != c.want {
			t.Errorf("sound xattr %s %s after --repair = %q, %v; want %q", c.path, c.name, got, err, c.want)
		}
	}
}

// TestDecryptXattrs: decrypt restores the user.* attributes of files and
// directories, --no-xattrs leaves them out, and a corrupt one is
// reported (exit 5) while the file is restored without it.
func TestDecryptXattrs(t *testing.T) {
	backing, v := xattrVault(t)

	out := filepath.Join(t.TempDir(), "out")
	mustCLI(t, "", "decrypt", backing, out)
	for _, c := range []struct{ path, name, want string }{
		{"docs/f.txt", "user.comment", "hello"},
		{"docs/f.txt", "user.empty", ""},
		{"docs", "user.dirnote", "a directory"},
	} {
		got, err := getxattr(filepath.Join(out, c.path), c.name)
		if err != nil || got != c.want {
			t.Errorf("restored %s %s = %q, %v; want %q", c.path, c.name, got, err, c.want)
		}
	}

	out2 := filepath.Join(t.TempDir(), "out")
	mustCLI(t, "", "decrypt", "--no-xattrs", backing, out2)
	for _, p := range []string{"docs/f.txt", "docs"} {
		if n, err := unix.Llistxattr(filepath.Join(out2, p), make([]byte, 4096)); err != nil || n != 0 {
			t.Errorf("--no-xattrs: %s has %d bytes of xattr names (%v)", p, n, err)
		}
	}

	flipVaultXattr(t, v, "docs/f.txt", "user.comment")
	out3 := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, "", "decrypt", backing, out3)
	if r.code != exitCorruption || !strings.Contains(r.stderr, `"user.comment": corrupt data`) {
		t.Fatalf("decrypt with a flipped xattr: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := getxattr(filepath.Join(out3, "docs/f.txt"), "user.comment"); !isNoXattr(err) {
		t.Errorf("corrupt xattr restored anyway: %v", err)
	}
	if got, err := getxattr(filepath.Join(out3, "docs/f.txt"), "user.empty"); err != nil || got != "" {
		t.Errorf("sound xattr next to the corrupt one: %q, %v", got, err)
	}
}
