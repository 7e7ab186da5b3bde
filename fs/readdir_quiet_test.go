package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// fileAttrs is what `ls -l` shows of an entry, as the tests compare it.
type fileAttrs struct {
	perm os.FileMode
	size int64
}

// listAttrs lists dir and stats every entry (as `ls -l` does), from
// one fresh stream read to the end.
func listAttrs(t *testing.T, dir string) map[string]fileAttrs {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	infos, err := f.Readdir(-1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]fileAttrs{}
	for _, fi := range infos {
		got[fi.Name()] = fileAttrs{fi.Mode().Perm(), fi.Size()}
	}
	return got
}

func compareAttrs(t *testing.T, step string, got, want map[string]fileAttrs) {
	t.Helper()
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("after %s: %s missing from the listing", step, name)
		} else if g != w {
			t.Errorf("after %s: %s listed with mode %v size %d, want %v %d", step, name, g.perm, g.size, w.perm, w.size)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("after %s: listing has %s, which should not exist", step, name)
		}
	}
}

// TestRelistingAfterChanges lists a directory with attributes, changes
// it through the mount (chmod, truncate, append, unlink, create,
// rename, rename over), and lists it again, as `ls -l` does, checking
// names, modes and sizes. The second listing comes from the daemon (the
// changes drop the kernel's cached listing) soon after the first, so
// the entries the kernel already holds are given without attributes
// (node ID 0): the test checks that it happened and that the kernel's
// attributes are still the right ones. Then it reads the directory as
// `rm -rf` does (a first stream stopped early, then a second from the
// start) and lists once more.
func TestRelistingAfterChanges(t *testing.T) {
	_, v := newTestVault(t, vault.CreateOptions{})
	var quiet atomic.Int64
	// A long timeout, so that the second listing is surely within the
	// time the first one's attributes are trusted for.
	m := mountVault(t, v, Options{cacheTimeout: 10 * time.Minute, quietEntries: &quiet})
	d := filepath.Join(m.dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	model := map[string]fileAttrs{}
	// Long names, so the listing spans several READDIRPLUS replies.
	name := func(i int) string { return fmt.Sprintf("f%03d-%s", i, strings.Repeat("n", 60)) }
	for i := range 400 {
		mustWrite(t, filepath.Join(d, name(i)), strings.Repeat("x", i%7))
		model[name(i)] = fileAttrs{0o644, int64(i % 7)}
	}
	compareAttrs(t, "creating", listAttrs(t, d), model)
	if q := quiet.Load(); q != 0 {
		t.Fatalf("first listing gave %d entries without attributes", q)
	}

	if err := os.Chmod(filepath.Join(d, name(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	model[name(1)] = fileAttrs{0o600, 1}
	if err := os.Truncate(filepath.Join(d, name(2)), 100); err != nil {
		t.Fatal(err)
	}
	model[name(2)] = fileAttrs{0o644, 100}
	f, err := os.OpenFile(filepath.Join(d, name(3)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("abcde"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	model[name(3)] = fileAttrs{0o644, 3 + 5}
	if err := os.Remove(filepath.Join(d, name(4))); err != nil {
		t.Fatal(err)
	}
	delete(model, name(4))
	mustWrite(t, filepath.Join(d, "new"), "123456789")
	model["new"] = fileAttrs{0o644, 9}
	if err := os.Rename(filepath.Join(d, name(5)), filepath.Join(d, "renamed")); err != nil {
		t.Fatal(err)
	}
	model["renamed"] = model[name(5)]
	delete(model, name(5))
	// Over an entry of another size and mode: the name now has
	// another inode.
	if err := os.Chmod(filepath.Join(d, name(6)), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(d, name(6)), filepath.Join(d, name(7))); err != nil {
		t.Fatal(err)
	}
	model[name(7)] = fileAttrs{0o640, 6}
	delete(model, name(6))

	compareAttrs(t, "changes", listAttrs(t, d), model)
	q := quiet.Load()
	if q == 0 {
		t.Fatalf("the second listing gave every entry with attributes again")
	}

	// rm -rf: a first stream that reads one small buffer and stops,
	// then a second from the start (after a change, so that the
	// kernel has no complete cached listing).
	mustWrite(t, filepath.Join(d, "new2"), "")
	model["new2"] = fileAttrs{0o644, 0}
	first, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Readdirnames(3); err != nil {
		t.Fatal(err)
	}
	first.Close()
	compareAttrs(t, "a listing stopped early", listAttrs(t, d), model)
	if quiet.Load() == q {
		t.Errorf("the listing after a stopped one gave every entry with attributes again")
	}
}

// TestRelistingShowsOutOfBandAttributes changes a file's mode and
// times behind the mount's back after a listing, with a short cache
// timeout, and lists again and again (each time after a change through
// the mount, so that every listing comes from the daemon, and early
// ones leave out the attributes the kernel holds): the new mode must
// show once the timeout has passed, as it does without listings.
func TestRelistingShowsOutOfBandAttributes(t *testing.T) {
	_, v := newTestVault(t, vault.CreateOptions{})
	var quiet atomic.Int64
	m := mountVault(t, v, Options{cacheTimeout: time.Second, quietEntries: &quiet})
	d := filepath.Join(m.dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustWrite(t, filepath.Join(d, fmt.Sprintf("f%02d", i)), "data")
	}
	if got := listAttrs(t, d)["f07"]; got != (fileAttrs{0o644, 4}) {
		t.Fatalf("f07 listed as %+v", got)
	}
	b, err := v.ResolvePath("d/f07")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(b, 0o600); err != nil {
		t.Fatal(err)
	}
	var last fileAttrs
	for i, deadline := 0, time.Now().Add(30*time.Second); ; i++ {
		mustWrite(t, filepath.Join(d, fmt.Sprintf("tmp%d", i)), "")
		last = listAttrs(t, d)["f07"]
		if last == (fileAttrs{0o600, 4}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a mode changed behind the mount's back never showed in listings: f07 %+v (%d entries given without attributes)", last, quiet.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d entries given without attributes", quiet.Load())
}

// TestPlusRecord follows a directory's record of its last listing with
// attributes through streams that answer entries with attributes or
// leave them out: a stream that answers as many entries as the record
// counts, all with attributes, renews it; one that left some out only
// extends it; an expired record is started again.
func TestPlusRecord(t *testing.T) {
	r := &root{timeout: time.Minute}
	n := &node{}
	n.SetData(&nodeExt{dir: &dirState{}, r: r})
	ds := n.dir()
	// list answers entries 0..upto-1 of a new stream, leaving out
	// the attributes of those below quiet.
	list := func(upto, quiet int) *dirHandle {
		h := &dirHandle{n: n, counted: true}
		h.beginPlus()
		for i := range upto {
			h.idx = i
			if i < quiet {
				if i >= h.quietN {
					t.Fatalf("entry %d left out beyond the %d the record allows", i, h.quietN)
				}
				h.allFull = false
				continue
			}
			h.answered()
		}
		return h
	}
	h1 := list(10, 0)
	if ds.plus.n != 10 || !ds.plus.at.Equal(h1.start) {
		t.Fatalf("after a first listing: record %d from %v, want 10 from %v", ds.plus.n, ds.plus.at, h1.start)
	}
	h2 := list(6, 0)
	if h2.quietN != 10 || ds.plus.n != 10 || !ds.plus.at.Equal(h1.start) {
		t.Fatalf("a stream stopped early changed the record: %d from %v (quietN %d)", ds.plus.n, ds.plus.at, h2.quietN)
	}
	h3 := list(12, 0)
	if ds.plus.n != 12 || !ds.plus.at.Equal(h3.start) {
		t.Fatalf("a full second listing: record %d from %v, want 12 from %v", ds.plus.n, ds.plus.at, h3.start)
	}
	list(15, 5)
	if ds.plus.n != 15 || !ds.plus.at.Equal(h3.start) {
		t.Fatalf("a listing that left entries out: record %d from %v, want 15 from %v", ds.plus.n, ds.plus.at, h3.start)
	}
	ds.plus.at = ds.plus.at.Add(-r.timeout)
	h5 := list(3, 0)
	if h5.quietN != 0 || ds.plus.n != 3 || !ds.plus.at.Equal(h5.start) {
		t.Fatalf("after the record expired: quietN %d, record %d from %v", h5.quietN, ds.plus.n, ds.plus.at)
	}
	h5.endPlus()
	if ds.plus.owner != nil {
		t.Error("a closed stream still owns the record")
	}
}

// TestRelistingAfterSeek lists a directory whole with attributes, then
// reads it again on a new descriptor from a position past the start
// (as the kernel does when part of its cached listing went missing):
// the entries from there on are given without attributes, and the
// names and attributes are right.
func TestRelistingAfterSeek(t *testing.T) {
	_, v := newTestVault(t, vault.CreateOptions{})
	var quiet atomic.Int64
	m := mountVault(t, v, Options{cacheTimeout: 10 * time.Minute, quietEntries: &quiet})
	d := filepath.Join(m.dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	model := map[string]fileAttrs{}
	for i := range 300 {
		n := fmt.Sprintf("f%03d-%s", i, strings.Repeat("s", 50))
		mustWrite(t, filepath.Join(d, n), strings.Repeat("y", i%5))
		model[n] = fileAttrs{0o644, int64(i % 5)}
	}
	compareAttrs(t, "creating", listAttrs(t, d), model)
	// A change drops the kernel's cached listing.
	mustWrite(t, filepath.Join(d, "z"), "zz")
	model["z"] = fileAttrs{0o644, 2}
	fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 1024)
	nb, err := unix.Getdents(fd, buf)
	if err != nil || nb == 0 {
		t.Fatalf("getdents: %d, %v", nb, err)
	}
	// The offset after the first few entries, then a fresh descriptor
	// positioned there.
	var off int64
	seen := 0
	for b := buf[:nb]; len(b) > 0 && seen < 5; seen++ {
		reclen := int(b[16]) | int(b[17])<<8
		off = int64(uint64(b[8]) | uint64(b[9])<<8 | uint64(b[10])<<16 | uint64(b[11])<<24 |
			uint64(b[12])<<32 | uint64(b[13])<<40 | uint64(b[14])<<48 | uint64(b[15])<<56)
		b = b[reclen:]
	}
	fd2, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd2)
	if _, err := unix.Seek(fd2, off, 0); err != nil {
		t.Fatal(err)
	}
	before := quiet.Load()
	var rest []string
	for {
		nb, err := unix.Getdents(fd2, buf)
		if err != nil {
			t.Fatal(err)
		}
		if nb == 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:nb], -1, nil)
		rest = append(rest, names...)
	}
	if len(rest) == 0 || len(rest) >= len(model) {
		t.Fatalf("listing from a position after 5 entries gave %d of %d names", len(rest), len(model))
	}
	for _, n := range rest {
		if _, ok := model[n]; !ok {
			t.Errorf("listing from a position gave %q", n)
		}
	}
	if quiet.Load() == before {
		t.Error("a listing continued after a seek gave every entry with attributes again")
	}
	compareAttrs(t, "a listing continued after a seek", listAttrs(t, d), model)
}
