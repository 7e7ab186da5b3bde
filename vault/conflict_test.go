package vault

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplitConflict(t *testing.T) {
	const tok = "gAAAAAAAAAAAp-hFFEL2QRI_prZUAhPJNxAtNMDfvWWf3wUUdl_SlmSjTKgAdhpw0baKLp6X99XuVKU00-S-RceBejrQdETB2Q=="
	const long = "fernetfs.longname.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ01"
	for _, c := range []struct{ name, base, label string }{
		{tok + ".sync-conflict-20261204-101500-ABCDEFG", tok, "sync-conflict-20261204-101500-ABCDEFG"},
		{tok + " (laptop's conflicted copy 2026-12-04)", tok, "laptop's conflicted copy 2026-12-04"},
		{tok + " (conflicted copy 2026-12-04 101500)", tok, "conflicted copy 2026-12-04 101500"},
		{tok + ".conflict2", tok, "conflict2"},
		{"fernetfs.longname.sync-conflict-20261204-101500-ABCDEFG.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ01", long, "sync-conflict-20261204-101500-ABCDEFG"},
		{"fernetfs.longname (laptop's conflicted copy 2026-12-04).abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ01", long, "laptop's conflicted copy 2026-12-04"},
		{long + ".sync-conflict-20261204-101500-ABCDEFG", long, "sync-conflict-20261204-101500-ABCDEFG"},
		{"fernetfs.sync-conflict-20261204-101500-ABCDEFG.diriv", DirIVName, "sync-conflict-20261204-101500-ABCDEFG"},
		{"fernetfs (conflicted copy 2026-12-04 101500).diriv", DirIVName, "conflicted copy 2026-12-04 101500"},
	} {
		base, label, ok := splitConflict(c.name)
		if !ok || base != c.base || label != c.label {
			t.Errorf("splitConflict(%q) = %q, %q, %v; want %q, %q", c.name, base, label, ok, c.base, c.label)
		}
		if !slices.Contains(conflictNames(base, label), c.name) {
			t.Errorf("conflictNames(%q, %q) = %q, lacks %q", base, label, conflictNames(base, label), c.name)
		}
	}
	for _, name := range []string{
		tok, long, DirIVName, tok + ".sync-conflict-2026124-101500-ABCDEFG", tok + " (conflicted copy 2026-12-4)",
		tok + ".conflict", tok + " (laptop (x)'s conflicted copy 2026-12-04)", ".sync-conflict-20261204-101500-ABCDEFG",
	} {
		if base, label, ok := splitConflict(name); ok {
			t.Errorf("splitConflict(%q) = %q, %q: not a conflict copy", name, base, label)
		}
	}
	if _, ok := isDirIVCopy("fernetfs (laptop's conflicted copy 2026-12-04).diriv"); !ok {
		t.Error("Dropbox copy of the diriv not recognised")
	}
	if _, ok := isDirIVCopy(tok + ".conflict1"); ok {
		t.Error("a name's conflict copy taken for a diriv copy")
	}
	for _, c := range []struct{ plain, base, label string }{
		{"a.txt (conflict conflict3)", "a.txt", "conflict3"},
		{"x (conflict y) (conflict laptop's conflicted copy 2026-12-04)", "x (conflict y)", "laptop's conflicted copy 2026-12-04"},
	} {
		base, label, ok := splitConflictPlain(c.plain)
		if !ok || base != c.base || label != c.label {
			t.Errorf("splitConflictPlain(%q) = %q, %q, %v", c.plain, base, label, ok)
		}
	}
	for _, plain := range []string{"a (conflict )", "a (conflict x)", "(conflict conflict1)", "a (conflict conflict1"} {
		if _, _, ok := splitConflictPlain(plain); ok {
			t.Errorf("splitConflictPlain(%q) accepted", plain)
		}
	}
}

// FuzzSplitConflict checks that every backing name accepted as a
// conflict copy is one of the names its base and label give back, so
// lookups find every entry a listing shows, and that shown names
// round-trip.
func FuzzSplitConflict(f *testing.F) {
	f.Add("abc.sync-conflict-20261204-101500-ABCDEFG", "x")
	f.Add("fernetfs.longname (a's conflicted copy 2026-12-04).h", "y (conflict conflict1)")
	f.Add("fernetfs (conflicted copy 2026-12-04 101500).diriv", "")
	f.Fuzz(func(t *testing.T, name, plain string) {
		if base, label, ok := splitConflict(name); ok {
			if !isConflictLabel(label) || !slices.Contains(conflictNames(base, label), name) {
				t.Fatalf("splitConflict(%q) = %q, %q: not reversible", name, base, label)
			}
			if base == "" {
				t.Fatalf("splitConflict(%q): empty base", name)
			}
			if b, l, ok := splitConflictPlain(conflictPlain(plain, label)); plain != "" && (!ok || b != plain || l != label) {
				t.Fatalf("conflictPlain(%q, %q) does not round-trip: %q, %q, %v", plain, label, b, l, ok)
			}
		}
		if base, label, ok := splitConflictPlain(plain); ok && conflictPlain(base, label) != plain {
			t.Fatalf("splitConflictPlain(%q) = %q, %q: not reversible", plain, base, label)
		}
	})
}

// TestSyncConflictsRecoverPy makes sync tools' conflict copies of a
// file, a long name and a directory and checks that recover.py restores
// them under the same names as Walk (and so decrypt) shows.
func TestSyncConflictsRecoverPy(t *testing.T) {
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	long := strings.Repeat("L", 200)
	want := map[string]treeEntry{
		"a.txt":     {0, "main a"},
		"d":         {kind: fs.ModeDir},
		"d/in":      {0, "in d"},
		"d/" + long: {0, "long"},
		"s":         {kind: fs.ModeDir},
		"s/x":       {0, "x main"},
		"o":         {kind: fs.ModeDir},
		"o/x":       {0, "x other"},
		"o/y":       {0, "y other"},
	}
	writeTree(t, v, want)
	bp := func(p string) string {
		b, err := v.ResolvePath(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cp := func(from, to string) {
		if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	const st, db, nc = "sync-conflict-20261204-101500-ABCDEFG", "laptop's conflicted copy 2026-12-04", "conflicted copy 2026-12-04 101500"
	cp(bp("a.txt"), bp("a.txt")+"."+st)
	cp(bp("d"), bp("d")+" ("+nc+")")
	lb := bp("d/" + long)
	dir, hash := filepath.Dir(lb), strings.TrimPrefix(filepath.Base(lb), LongNamePrefix)
	cp(lb, filepath.Join(dir, "fernetfs.longname ("+db+")."+hash))
	cp(filepath.Join(dir, DirIVName), filepath.Join(dir, "fernetfs."+st+".diriv"))
	// Directory s made on two machines: o's IV and names join it.
	s, o := bp("s"), bp("o")
	for _, n := range []string{"x", "y"} {
		b := bp("o/" + n)
		if err := os.Rename(b, filepath.Join(s, filepath.Base(b))); err != nil {
			t.Fatal(err)
		}
	}
	cp(filepath.Join(o, DirIVName), filepath.Join(s, "fernetfs ("+db+").diriv"))
	cp(filepath.Join(o, DirIVName), filepath.Join(s, "fernetfs."+st+".diriv"))
	if err := os.RemoveAll(o); err != nil {
		t.Fatal(err)
	}
	delete(want, "o")
	delete(want, "o/x")
	delete(want, "o/y")
	for p, e := range map[string]treeEntry{
		"a.txt (conflict " + st + ")":          {0, "main a"},
		"d (conflict " + nc + ")":              {kind: fs.ModeDir},
		"d (conflict " + nc + ")/in":           {0, "in d"},
		"d (conflict " + nc + ")/" + long:      {0, "long"},
		"d/" + long + " (conflict " + db + ")": {0, "long"},
		"s/x (conflict " + db + ")":            {0, "x other"},
		"s/y":                                  {0, "y other"},
	} {
		want[p] = e
	}
	compareTrees(t, plainTree(t, runRecovery(t, v.Dir(), []byte("pw"))), want)
	var walked []string
	if err := v.Walk(func(w WalkEntry) error {
		if w.Err != nil {
			t.Errorf("walk: %v", w.Err)
		} else if w.Path != "" {
			walked = append(walked, w.Path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := range want {
		names = append(names, p)
	}
	slices.Sort(names)
	slices.Sort(walked)
	if !slices.Equal(walked, names) {
		t.Errorf("Walk shows\n%q\nwant\n%q", walked, names)
	}
}
