package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDecryptSymlinkRace: while decrypt restores a tree, an attacker
// swaps every restored entry it sees for a symlink to a victim outside
// OUTDIR (a file for a file, a directory for a directory), as a user who
// can write into OUTDIR could. (The test runs as root and OUTDIR is
// decrypt's own, so the attacker here is the test itself; the race is
// the same.) Whatever decrypt does with the swapped entries, the victim
// file's mode, owner, mtime and content must never change, and nothing
// may appear in the victim directory. The vault's empty directories come
// first in the walk, so their deferred attributes are set long after the
// attacker had its chance; then directories with files, then files, each
// swapped right after creation.
func TestDecryptSymlinkRace(t *testing.T) {
	backing, _ := newTestVault(t)
	for i := range 6 {
		mustCLI(t, "", "fernetfs-put", "--mkdir", "--mode", "0777", "--mtime", "2001-01-01T00:00:00Z",
			backing, fmt.Sprintf("a%02d", i))
	}
	for i := range 4 {
		for j := range 4 {
			mustCLI(t, "data\n", "fernetfs-put", backing, fmt.Sprintf("b%02d/g%02d", i, j))
		}
	}
	for i := range 24 {
		mustCLI(t, strings.Repeat("x", 5000), "fernetfs-put", "--mode", "0666", "--mtime", "2001-01-01T00:00:00Z",
			backing, fmt.Sprintf("f%02d", i))
	}

	victim := filepath.Join(t.TempDir(), "victim")
	const secret = "do not touch\n"
	if err := os.WriteFile(victim, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(victim, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(victim, old, old); err != nil {
		t.Fatal(err)
	}
	want := statNoFollow(t, victim)
	victimDir := t.TempDir()

	swaps := 0
	for round := range 50 {
		out := filepath.Join(t.TempDir(), "out")
		stop := make(chan struct{})
		done := make(chan int)
		go func() { done <- swapForSymlinks(out, victim, victimDir, stop) }()
		r := runCLI(t, "", "decrypt", backing, out)
		close(stop)
		swaps += <-done
		if r.code != 0 && r.code != 1 {
			t.Fatalf("round %d: decrypt exit %d: %s", round, r.code, r.stderr)
		}
		got := statNoFollow(t, victim)
		if got.Mode != want.Mode || got.Uid != want.Uid || got.Gid != want.Gid || got.Mtim != want.Mtim {
			t.Fatalf("round %d: victim changed: mode %o uid %d gid %d mtime %v, was mode %o uid %d gid %d mtime %v",
				round, got.Mode, got.Uid, got.Gid, got.Mtim, want.Mode, want.Uid, want.Gid, want.Mtim)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != secret {
			t.Fatalf("round %d: victim content %q, %v", round, b, err)
		}
		if ents, err := os.ReadDir(victimDir); err != nil || len(ents) > 0 {
			t.Fatalf("round %d: decrypt wrote into the victim directory: %v %v", round, ents, err)
		}
	}
	if swaps == 0 {
		t.Fatal("the attacker never swapped an entry: the test did not exercise the race")
	}
	t.Logf("%d entries swapped for symlinks over 50 rounds", swaps)
}

// swapForSymlinks renames every entry that appears in out aside and puts
// a symlink in its place, to victimDir for a directory and to victim
// otherwise, until stop is closed. It returns the number of entries
// swapped.
func swapForSymlinks(out, victim, victimDir string, stop <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-stop:
			return n
		default:
		}
		ents, err := os.ReadDir(out)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") || e.Type()&os.ModeSymlink != 0 {
				continue
			}
			p := filepath.Join(out, e.Name())
			target := victim
			if e.IsDir() {
				target = victimDir
			}
			if os.Rename(p, filepath.Join(out, ".moved-"+e.Name())) == nil && os.Symlink(target, p) == nil {
				n++
			}
		}
	}
}
