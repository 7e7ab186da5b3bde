package fs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// TestMountJournal: a writable mount creates its undo journal in BACKING
// at the first in-place write (not before: a mount that only reads
// changes nothing), hides it from the plaintext tree, holds it locked so
// that fsck or a second mount (--shared-storage) never takes it for a
// leftover one, and removes it at unmount without changing BACKING's
// times. A read-only mount has none.
func TestMountJournal(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{})
	journals := func() []string {
		m, err := filepath.Glob(filepath.Join(backing, vault.JournalPrefix+"*"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := mountVault(t, v, Options{})
	f := filepath.Join(m.dir, "f")
	if err := os.WriteFile(f, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if j := journals(); len(j) != 0 {
		t.Fatalf("journal before any in-place write: %q", j)
	}
	fi1, err := os.Stat(backing)
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("FIRST"), 0); err != nil {
		t.Fatal(err)
	}
	h.Close()
	j := journals()
	if len(j) != 1 {
		t.Fatalf("journals after an in-place write: %q", j)
	}
	if fi, err := os.Stat(backing); err != nil || !fi.ModTime().Equal(fi1.ModTime()) {
		t.Errorf("creating the journal changed BACKING's mtime (%v)", err)
	}
	ents, err := os.ReadDir(m.dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "f" {
		t.Fatalf("mount lists %v (%v), want only f", ents, err)
	}

	// Another mount's view (shared storage) or fsck: the journal is live.
	v2, err := vault.Unlock(backing, vault.Credential{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	v2.SetSharedStorage(true)
	m2 := mountVault(t, v2, Options{})
	js, errs := v2.OpenJournals(true)
	if len(errs) > 0 || len(js.Paths) != 0 || len(js.Live) != 1 || js.Live[0] != j[0] {
		t.Fatalf("OpenJournals while mounted: leftover %q, live %q, %v", js.Paths, js.Live, errs)
	}
	js.Close()
	m2.unmount(t)

	m.unmount(t)
	if j := journals(); len(j) != 0 {
		t.Fatalf("journal after unmount: %q", j)
	}
	fi, err := os.Stat(backing)
	if err != nil || !fi.ModTime().Equal(fi1.ModTime()) {
		t.Errorf("unmount changed BACKING's mtime (%v)", err)
	}

	// Read-only: no journal, whatever is read.
	ro := mountVault(t, v, Options{ReadOnly: true})
	if b, err := os.ReadFile(filepath.Join(ro.dir, "f")); err != nil || !strings.HasPrefix(string(b), "FIRST") {
		t.Fatalf("read-only mount reads %q, %v", b, err)
	}
	if j := journals(); len(j) != 0 {
		t.Fatalf("journal on a read-only mount: %q", j)
	}
}

// TestJournalFullDisk: a disk that is full before the first in-place
// write leaves no room for the journal; in-place overwrites (of data and
// of holes) still succeed, as they need no space, and the mount ends
// with no journal left and every file sound.
func TestJournalFullDisk(t *testing.T) {
	m, v := tmpfsVault(t, 8<<20)
	path := filepath.Join(m.dir, "f")
	data := make([]byte, 100<<10)
	for i := range data {
		data[i] = byte(i * 13)
	}
	clear(data[20<<10 : 60<<10]) // a hole
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data[:20<<10], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[60<<10:], 60<<10); err != nil {
		t.Fatal(err)
	}
	fillUp(t, filepath.Join(m.dir, "filler"))
	for _, off := range []int{0, 8 << 10, 24 << 10, 70 << 10} {
		p := bytes.Repeat([]byte{byte(off >> 10)}, 4096)
		if _, err := f.WriteAt(p, int64(off)); err != nil && !(off == 24<<10 && errors.Is(err, syscall.ENOSPC)) {
			t.Fatalf("overwrite at %d on a full disk: %v", off, err)
		} else if err == nil {
			copy(data[off:], p)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkFiles(t, m.dir, map[string][]byte{"f": data}, "on the full disk")
	m.unmount(t)
	if j, _ := filepath.Glob(filepath.Join(v.Dir(), vault.JournalPrefix+"*")); len(j) != 0 {
		t.Fatalf("journal left: %q", j)
	}
	fsckVault(t, v, map[string][]byte{"f": data})
}

// TestMountLogsLeftoverJournal: a mount started over a killed mount's
// journal says in its log that fsck --repair puts torn chunks back.
func TestMountLogsLeftoverJournal(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	f := filepath.Join(m.dir, "f")
	if err := os.WriteFile(f, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("FIRST"), 0); err != nil { // in place
		t.Fatal(err)
	}
	h.Close()
	// Keep a copy of the live journal, as a kill would leave it.
	j, _ := filepath.Glob(filepath.Join(backing, vault.JournalPrefix+"*"))
	if len(j) != 1 {
		t.Fatalf("journals %q", j)
	}
	b, err := os.ReadFile(j[0])
	if err != nil {
		t.Fatal(err)
	}
	m.unmount(t)
	left := filepath.Join(backing, vault.JournalPrefix+"00000000000000aa")
	if err := os.WriteFile(left, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m2 := mountVault(t, v, Options{ReadOnly: true})
	if got := m2.log.String(); !strings.Contains(got, "fsck --repair") || !strings.Contains(got, left) {
		t.Fatalf("mount log %q does not name the leftover journal", got)
	}
	if _, err := os.Stat(left); err != nil {
		t.Fatalf("the mount touched the leftover journal: %v", err)
	}
}

// TestMountReplaysLeftoverJournal: over a killed mount's leftover journal
// (the frozen vault testdata/vault-torn, whose torn.txt had an in-place
// overwrite torn by the kill), a read-only mount reads the torn file as
// damaged and changes nothing, while a writable mount puts the torn
// chunk back when the file is opened, says so in its log, and reads the
// file whole, as it is afterwards on any mount. The journal stays for
// fsck --repair.
func TestMountReplaysLeftoverJournal(t *testing.T) {
	const src = "../testdata/vault-torn"
	backing := filepath.Join(t.TempDir(), "vault")
	if err := os.CopyFS(backing, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(src + ".password")
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Unlock(backing, vault.Credential{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(src+".want", "torn.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ro := mountVault(t, v, Options{ReadOnly: true})
	if _, err := os.ReadFile(filepath.Join(ro.dir, "torn.txt")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read-only mount: reading the torn file: %v, want EIO", err)
	}
	ro.unmount(t)

	m := mountVault(t, v, Options{})
	got, err := os.ReadFile(filepath.Join(m.dir, "torn.txt"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("writable mount: torn file reads %d bytes, %v; want %d bytes as before the kill", len(got), err, len(want))
	}
	if log := m.log.String(); !strings.Contains(log, `"/torn.txt": put back 1 torn chunk [4]`) {
		t.Errorf("mount log does not say what was put back:\n%s", log)
	}
	m.unmount(t)

	ro = mountVault(t, v, Options{ReadOnly: true})
	if got, err := os.ReadFile(filepath.Join(ro.dir, "torn.txt")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the replay, read-only mount: %d bytes, %v", len(got), err)
	}
	ro.unmount(t)
	if j, _ := filepath.Glob(filepath.Join(backing, vault.JournalPrefix+"*")); len(j) != 1 {
		t.Errorf("journals after the replay: %q, want the leftover one kept for fsck --repair", j)
	}
}
