//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// mknodInVault creates a device node in the vault root, as a tampered
// backup could carry one: file types and modes are not authenticated.
func mknodInVault(t *testing.T, v *vault.Vault, name string, mode uint32, dev int) {
	t.Helper()
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	b, err := root.PrepareName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(v.Dir(), b), mode, dev); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(filepath.Join(v.Dir(), b), mode&0o7777); err != nil {
		t.Fatal(err)
	}
}

// TestDecryptDevicesAndSetuid: by default decrypt skips device nodes and
// clears the setuid/setgid bits of files, saying so in one line;
// --devices and --same-permissions restore them as stored, with the
// setuid bit surviving the change of owner.
func TestDecryptDevicesAndSetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to make device nodes, and CI must run as root")
		}
		t.Skip("needs root to make device nodes")
	}
	backing, v := newTestVault(t)
	mustCLI(t, "#!/bin/sh\n", "fernetfs-put", "--mode", "04755", backing, "suid")
	mustCLI(t, "#!/bin/sh\n", "fernetfs-put", "--mode", "02711", backing, "sgid")
	mustCLI(t, "plain\n", "fernetfs-put", "--mode", "0644", backing, "plain")
	mustCLI(t, "", "fernetfs-put", "--mkdir", "--mode", "02775", backing, "shared")
	// chown clears setuid: give the backing file its owner, then its mode.
	if err := os.Lchown(backingPath(t, v, "suid"), 1234, 1234); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(backingPath(t, v, "suid"), 0o4755); err != nil {
		t.Fatal(err)
	}
	mknodInVault(t, v, "null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	mknodInVault(t, v, "disk", unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200)))

	out := filepath.Join(t.TempDir(), "out")
	r := mustCLI(t, "", "decrypt", backing, out)
	const summary = "fernetfs: decrypt: skipped 2 device nodes (--devices restores them); " +
		"cleared setuid/setgid bits of 2 files (--same-permissions keeps them)\n"
	if r.stderr != summary {
		t.Fatalf("decrypt stderr:\n%s\nwant:\n%s", r.stderr, summary)
	}
	for _, n := range []string{"null", "disk"} {
		if _, err := os.Lstat(filepath.Join(out, n)); !os.IsNotExist(err) {
			t.Errorf("device %s restored by default: %v", n, err)
		}
	}
	wantModes := map[string]uint32{"suid": 0o755, "sgid": 0o711, "plain": 0o644, "shared": 0o2775}
	for n, want := range wantModes {
		if got := statNoFollow(t, filepath.Join(out, n)).Mode & 0o7777; got != want {
			t.Errorf("default decrypt: %s mode %04o, want %04o", n, got, want)
		}
	}
	if st := statNoFollow(t, filepath.Join(out, "suid")); st.Uid != 1234 {
		t.Errorf("suid owner %d, want 1234", st.Uid)
	}

	out2 := filepath.Join(t.TempDir(), "out")
	r = mustCLI(t, "", "decrypt", "--devices", "--same-permissions", backing, out2)
	if r.stderr != "" {
		t.Fatalf("decrypt --devices --same-permissions stderr: %s", r.stderr)
	}
	if st := statNoFollow(t, filepath.Join(out2, "null")); st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("null: mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := statNoFollow(t, filepath.Join(out2, "disk")); st.Mode != unix.S_IFBLK|0o660 || st.Rdev != unix.Mkdev(7, 200) {
		t.Errorf("disk: mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := statNoFollow(t, filepath.Join(out2, "suid")); st.Mode&0o7777 != 0o4755 || st.Uid != 1234 {
		t.Errorf("suid with --same-permissions: mode %04o uid %d, want 4755 uid 1234", st.Mode&0o7777, st.Uid)
	}
	if got := statNoFollow(t, filepath.Join(out2, "sgid")).Mode & 0o7777; got != 0o2711 {
		t.Errorf("sgid with --same-permissions: mode %04o, want 2711", got)
	}
}

// TestOfflineMessagesQuoteNames: a name from the vault holding terminal
// escape sequences is printed quoted and escaped by fsck, cat and
// decrypt, never raw.
func TestOfflineMessagesQuoteNames(t *testing.T) {
	backing, v := newTestVault(t)
	const evil = "evil\x1b]0;owned\x07\x1b[31m.txt"
	const quoted = `"/evil\x1b]0;owned\a\x1b[31m.txt"`
	mustCLI(t, strings.Repeat("data ", 2000), "fernetfs-put", backing, evil)
	flipBackingByte(t, backingPath(t, v, evil), 200)

	check := func(what, output string) {
		t.Helper()
		if !strings.Contains(output, quoted) {
			t.Errorf("%s does not name the file as %s:\n%s", what, quoted, output)
		}
		if strings.ContainsAny(output, "\x1b\x07") {
			t.Errorf("%s printed a raw escape sequence: %q", what, output)
		}
	}
	r := runCLI(t, "", "fsck", backing)
	if r.code != exitCorruption {
		t.Fatalf("fsck exit %d: %s", r.code, r.stdout)
	}
	check("fsck", r.stdout+r.stderr)
	r = runCLI(t, "", "cat", backing, evil)
	if r.code != exitCorruption {
		t.Fatalf("cat exit %d: %s", r.code, r.stderr)
	}
	check("cat", r.stderr)
	r = runCLI(t, "", "decrypt", backing, filepath.Join(t.TempDir(), "out"))
	if r.code != exitCorruption {
		t.Fatalf("decrypt exit %d: %s", r.code, r.stderr)
	}
	check("decrypt", r.stderr)
}

// flipBackingByte flips the low bit of one byte of a backing file.
func flipBackingByte(t *testing.T, name string, off int) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
