package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// Conflict suffixes as Syncthing, Dropbox and Nextcloud write them.
const (
	stLabel  = "sync-conflict-20261204-101500-ABCDEFG"
	dbLabel  = "laptop's conflicted copy 2026-12-04"
	ncLabel  = "conflicted copy 2026-12-04 101500"
	st2Label = "sync-conflict-20261204-101500-BBBBBBB"
)

// conflictName is how the mount shows a conflict copy of name.
func conflictName(name, label string) string { return name + " (conflict " + label + ")" }

// copyBacking copies a backing file or directory tree (cp -a), as a
// sync tool's conflict copy does.
func copyBacking(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v: %s", from, to, err, out)
	}
}

func mustWrite(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("read %s: %v", filepath.Base(p), err)
		return
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", filepath.Base(p), got, want)
	}
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// TestSyncConflictCopies renames and copies backing entries the way sync
// tools name conflict copies (file, directory, long name, directory IV)
// and checks that the mount shows each under a readable conflict name
// with its own content, and can rename and delete them.
func TestSyncConflictCopies(t *testing.T) {
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	mnt := m.dir
	long := strings.Repeat("l", 200)
	for _, d := range []string{"d", "s", "o"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, filepath.Join(mnt, "d", "in.txt"), "in d")
	mustWrite(t, filepath.Join(mnt, "s", "x"), "x main")
	mustWrite(t, filepath.Join(mnt, "o", "x"), "x other")
	mustWrite(t, filepath.Join(mnt, "o", "y"), "y other")
	bp := func(p string) string {
		t.Helper()
		b, err := v.ResolvePath(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct{ content, suffix string }{
		{"syncthing a", "." + stLabel},
		{"dropbox a", " (" + dbLabel + ")"},
		{"nextcloud a", " (" + ncLabel + ")"},
	} {
		mustWrite(t, filepath.Join(mnt, "a.txt"), c.content)
		copyBacking(t, bp("a.txt"), bp("a.txt")+c.suffix)
	}
	mustWrite(t, filepath.Join(mnt, "a.txt"), "main a")
	copyBacking(t, bp("d"), bp("d")+" ("+ncLabel+")")

	mustWrite(t, filepath.Join(mnt, long), "long syncthing")
	lb := bp(long)
	dir, hash := filepath.Dir(lb), strings.TrimPrefix(filepath.Base(lb), vault.LongNamePrefix)
	copyBacking(t, lb, filepath.Join(dir, "fernetfs.longname."+stLabel+"."+hash))
	mustWrite(t, filepath.Join(mnt, long), "long dropbox")
	copyBacking(t, lb, filepath.Join(dir, "fernetfs.longname ("+dbLabel+")."+hash))
	mustWrite(t, filepath.Join(mnt, long), "long main")

	// Two machines made directory s: o's IV and names join s, o's IV
	// as a Syncthing conflict copy; an identical copy of s's own IV is
	// ignored.
	sB, oB := bp("s"), bp("o")
	for _, n := range []string{"x", "y"} {
		if err := os.Rename(bp("o/"+n), filepath.Join(sB, filepath.Base(bp("o/"+n)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(oB, vault.DirIVName), filepath.Join(sB, "fernetfs."+st2Label+".diriv")); err != nil {
		t.Fatal(err)
	}
	copyBacking(t, filepath.Join(sB, vault.DirIVName), filepath.Join(sB, "fernetfs ("+dbLabel+").diriv"))
	if err := os.Remove(oB); err != nil {
		t.Fatal(err)
	}
	// A conflict copy of something that is no name at all.
	mustWrite(t, filepath.Join(backing, "zzz."+stLabel), "")
	m.unmount(t)

	m2 := mountVault(t, v, Options{})
	mnt = m2.dir
	want := []string{
		"a.txt", conflictName("a.txt", ncLabel), conflictName("a.txt", dbLabel), conflictName("a.txt", stLabel),
		"d", conflictName("d", ncLabel),
		long, conflictName(long, dbLabel), conflictName(long, stLabel),
		"s",
	}
	slices.Sort(want)
	if got := listNames(t, mnt); !slices.Equal(got, want) {
		t.Errorf("root lists\n%q\nwant\n%q", got, want)
	}
	wantS := []string{"x", conflictName("x", st2Label), "y"}
	if got := listNames(t, filepath.Join(mnt, "s")); !slices.Equal(got, wantS) {
		t.Errorf("s lists %q, want %q", got, wantS)
	}
	mustRead(t, filepath.Join(mnt, "a.txt"), "main a")
	mustRead(t, filepath.Join(mnt, conflictName("a.txt", stLabel)), "syncthing a")
	mustRead(t, filepath.Join(mnt, conflictName("a.txt", dbLabel)), "dropbox a")
	mustRead(t, filepath.Join(mnt, conflictName("a.txt", ncLabel)), "nextcloud a")
	mustRead(t, filepath.Join(mnt, conflictName("d", ncLabel), "in.txt"), "in d")
	mustRead(t, filepath.Join(mnt, long), "long main")
	mustRead(t, filepath.Join(mnt, conflictName(long, stLabel)), "long syncthing")
	mustRead(t, filepath.Join(mnt, conflictName(long, dbLabel)), "long dropbox")
	mustRead(t, filepath.Join(mnt, "s", "x"), "x main")
	mustRead(t, filepath.Join(mnt, "s", conflictName("x", st2Label)), "x other")
	mustRead(t, filepath.Join(mnt, "s", "y"), "y other")
	if n := countLines(m2.log.String(), "zzz."+stLabel); n != 1 {
		t.Errorf("undecodable conflict name logged %d times, want once; log:\n%s", n, m2.log.String())
	}

	// Conflict copies are ordinary entries: rename, delete, and the
	// long name's copies outlive the original's sidecar.
	if err := os.Rename(filepath.Join(mnt, conflictName("a.txt", stLabel)), filepath.Join(mnt, "a-old.txt")); err != nil {
		t.Fatal(err)
	}
	mustRead(t, filepath.Join(mnt, "a-old.txt"), "syncthing a")
	if err := os.Remove(filepath.Join(mnt, conflictName("a.txt", dbLabel))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, long)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "s", "y"), filepath.Join(mnt, "s", "y2")); err != nil {
		t.Fatal(err)
	}
	m2.unmount(t)

	m3 := mountVault(t, v, Options{})
	mnt = m3.dir
	want = []string{
		"a-old.txt", "a.txt", conflictName("a.txt", ncLabel),
		"d", conflictName("d", ncLabel),
		conflictName(long, dbLabel), conflictName(long, stLabel),
		"s",
	}
	slices.Sort(want)
	if got := listNames(t, mnt); !slices.Equal(got, want) {
		t.Errorf("after rename/remove root lists\n%q\nwant\n%q", got, want)
	}
	mustRead(t, filepath.Join(mnt, conflictName(long, stLabel)), "long syncthing")
	mustRead(t, filepath.Join(mnt, "s", "y2"), "y other")
	// Renaming onto a conflict copy's name replaces it.
	if err := os.Rename(filepath.Join(mnt, "a-old.txt"), filepath.Join(mnt, conflictName("a.txt", ncLabel))); err != nil {
		t.Fatal(err)
	}
	mustRead(t, filepath.Join(mnt, conflictName("a.txt", ncLabel)), "syncthing a")
	want = slices.DeleteFunc(want, func(n string) bool { return n == "a-old.txt" })
	if got := listNames(t, mnt); !slices.Equal(got, want) {
		t.Errorf("after renaming onto a conflict copy root lists\n%q\nwant\n%q", got, want)
	}
	if err := os.Remove(filepath.Join(mnt, conflictName(long, stLabel))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, conflictName(long, dbLabel))); err != nil {
		t.Fatal(err)
	}
	// The last user of the long name's sidecar is gone, and so is it.
	if _, err := os.Stat(vault.LongNameSidecar(lb)); !os.IsNotExist(err) {
		t.Errorf("long-name sidecar after its last entry is gone: %v", err)
	}
}

// countLines counts the lines of s that contain sub.
func countLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
