package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// TestDecryptSyncConflicts builds the backing entries sync tools leave
// (a Syncthing copy of a file, a Dropbox copy of a long name, a
// Nextcloud copy of a directory, a directory whose IV had a conflict)
// and checks that decrypt restores each under its conflict name, cat
// reads them, and fsck reports only the one name that is no conflict
// copy of anything.
func TestDecryptSyncConflicts(t *testing.T) {
	const (
		st = "sync-conflict-20261204-101500-ABCDEFG"
		db = "laptop's conflicted copy 2026-12-04"
		nc = "conflicted copy 2026-12-04 101500"
	)
	backing, v := newTestVault(t)
	long := strings.Repeat("L", 180)
	mv := func(from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	mustCLI(t, "syncthing a", "fernetfs-put", backing, "a.txt")
	a := backingPath(t, v, "a.txt")
	mv(a, a+"."+st)
	mustCLI(t, "main a", "fernetfs-put", backing, "a.txt")

	mustCLI(t, "long dropbox", "fernetfs-put", backing, long)
	lb := backingPath(t, v, long)
	hash := strings.TrimPrefix(filepath.Base(lb), vault.LongNamePrefix)
	mv(lb, filepath.Join(backing, "fernetfs.longname ("+db+")."+hash))
	mustCLI(t, "long main", "fernetfs-put", backing, long)

	mustCLI(t, "in d", "fernetfs-put", backing, "d/in.txt")
	d := backingPath(t, v, "d")
	if out, err := exec.Command("cp", "-a", d, d+" ("+nc+")").CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}

	mustCLI(t, "x main", "fernetfs-put", backing, "s/x")
	mustCLI(t, "x other", "fernetfs-put", backing, "o/x")
	s, o, ox := backingPath(t, v, "s"), backingPath(t, v, "o"), backingPath(t, v, "o/x")
	mv(ox, filepath.Join(s, filepath.Base(ox)))
	mv(filepath.Join(o, vault.DirIVName), filepath.Join(s, "fernetfs."+st+".diriv"))
	if err := os.Remove(o); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(backing, "zzz."+st), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, "", "decrypt", backing, out)
	if r.code != 5 || !strings.Contains(r.stdout+r.stderr, "zzz."+st) {
		t.Errorf("decrypt: exit %d, want 5 naming the undecodable entry\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for p, want := range map[string]string{
		"a.txt":                          "main a",
		"a.txt (conflict " + st + ")":    "syncthing a",
		long:                             "long main",
		long + " (conflict " + db + ")":  "long dropbox",
		"d/in.txt":                       "in d",
		"d (conflict " + nc + ")/in.txt": "in d",
		"s/x":                            "x main",
		"s/x (conflict " + st + ")":      "x other",
	} {
		got, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || string(got) != want {
			t.Errorf("restored %q = %q, %v; want %q", p, got, err, want)
		}
	}
	if r := mustCLI(t, "", "cat", backing, "s/x (conflict "+st+")"); r.stdout != "x other" {
		t.Errorf("cat of the conflict copy gave %q", r.stdout)
	}
	// The long name's sidecar serves its conflict copy too: with the
	// original gone it is still in use, no orphan.
	if err := os.Remove(lb); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "fsck", backing)
	if r.code != 5 || !strings.Contains(r.stdout, "zzz."+st) || !strings.Contains(r.stdout, ": 1 problem\n") {
		t.Errorf("fsck: exit %d, want 5 with exactly the undecodable name\n%s%s", r.code, r.stdout, r.stderr)
	}
}
