package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFsckUndoJournal runs fsck on a copy of the frozen vault whose file
// torn.txt a kill -9 tore in the middle of an in-place overwrite, with
// the killed mount's journal left in BACKING: fsck names the chunk the
// journal can put back and changes nothing; fsck --repair puts it back
// and removes the journal; then fsck is clean and cat gives the golden
// bytes.
func TestFsckUndoJournal(t *testing.T) {
	const src = "../../testdata/vault-torn"
	dir := filepath.Join(t.TempDir(), "vault")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	pw, err := filepath.Abs(src + ".password")
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "fernetfs.journal.00000000000000f1")
	before, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}

	// The offline readers report the torn file and say what to do.
	r := runCLI(t, "", "cat", "--password-file", pw, dir, "torn.txt")
	if r.code != 5 || !strings.Contains(r.stderr, "fsck --repair") {
		t.Fatalf("cat of the torn file: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, "", "decrypt", "--password-file", pw, dir, filepath.Join(t.TempDir(), "out"))
	if r.code != 5 || !strings.Contains(r.stderr, "fsck --repair") {
		t.Fatalf("decrypt of the torn vault: exit %d\n%s", r.code, r.stderr)
	}

	r = runCLI(t, "", "fsck", "--password-file", pw, dir)
	if r.code != 5 || !strings.Contains(r.stdout, `"/torn.txt": torn chunk [4] can be put back from the undo journal (fsck --repair)`) {
		t.Fatalf("fsck: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if now, err := os.ReadFile(journal); err != nil || string(now) != string(before) {
		t.Fatalf("fsck without --repair changed the journal: %v", err)
	}

	r = runCLI(t, "", "fsck", "--repair", "--password-file", pw, dir)
	if r.code != 0 || !strings.Contains(r.stdout, `repaired "/torn.txt": put back torn chunk [4] from the undo journal`) ||
		!strings.Contains(r.stdout, "removed 1 leftover journal") {
		t.Fatalf("fsck --repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("journal after fsck --repair: %v", err)
	}
	r = mustCLI(t, "", "fsck", "--password-file", pw, dir)
	if !strings.Contains(r.stdout, "no problems") {
		t.Fatalf("second fsck:\n%s", r.stdout)
	}
	want, err := os.ReadFile(src + ".want/torn.txt")
	if err != nil {
		t.Fatal(err)
	}
	if r := mustCLI(t, "", "cat", "--password-file", pw, dir, "torn.txt"); r.stdout != string(want) {
		t.Fatalf("cat after the repair: %d bytes, want the %d golden bytes", len(r.stdout), len(want))
	}
}
