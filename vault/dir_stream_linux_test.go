package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// readStream reads s to its end, returning the entries (with Backing
// set from s.Backing, which must agree with any Backing Next set) and
// the position after each.
func readStream(t *testing.T, s *Stream) ([]DirEntry, []uint64) {
	t.Helper()
	var ents []DirEntry
	var pos []uint64
	for {
		e, p, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if b := s.Backing(); b != "" {
				t.Errorf("Backing %q after the end", b)
			}
			return ents, pos
		}
		if b := s.Backing(); e.Backing != "" && e.Backing != b {
			t.Errorf("entry %+v, Backing() %q", e, b)
		} else {
			e.Backing = b
		}
		ents = append(ents, e)
		pos = append(pos, p)
	}
}

// TestStream checks a directory stream: every entry but metadata, "."
// and "..", with the inode number and type of the backing entry,
// undecodable ones marked ErrCorrupt, and a long name's sidecar read
// only when the stream reaches that entry.
func TestStream(t *testing.T) {
	for _, plain := range []bool{false, true} {
		v := newTestVault(t, CreateOptions{PlaintextNames: plain})
		root := openRoot(t, v)
		long := strings.Repeat("L", 140)
		createFile(t, root, "a.txt")
		createFile(t, root, long)
		mkdir(t, root, "dir")
		os.WriteFile(filepath.Join(v.Dir(), HeaderBackupName), []byte("x"), 0o600)
		os.WriteFile(filepath.Join(v.Dir(), "junk"), []byte("x"), 0o600)
		want := []string{".", "..", "a.txt", "dir", long}
		if plain {
			want = append(want, "junk")
		}
		slices.Sort(want)
		s, err := root.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		ents, _ := readStream(t, s)
		var got []string
		bad := 0
		for _, e := range ents {
			if e.Err != nil {
				bad++
				if !errors.Is(e.Err, ErrCorrupt) || e.Backing != "junk" {
					t.Errorf("plain=%v: entry %+v", plain, e)
				}
				continue
			}
			got = append(got, e.Name)
			var st unix.Stat_t
			if err := unix.Fstatat(root.Fd(), e.Backing, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Fatal(err)
			}
			if e.Ino != st.Ino || e.Type != uint32(st.Mode)&unix.S_IFMT {
				t.Errorf("%q: ino %d type %o, stat says %d %o", e.Name, e.Ino, e.Type, st.Ino, st.Mode&unix.S_IFMT)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || bad != map[bool]int{false: 1, true: 0}[plain] {
			t.Errorf("plain=%v: names %q and %d undecodable, want %q", plain, got, bad, want)
		}
		if !plain {
			// The long name decrypts from its sidecar when the stream
			// reaches it.
			lb, _ := root.BackingName(long)
			os.Remove(filepath.Join(v.Dir(), LongNameSidecar(lb)))
			if err := s.Seek(0); err != nil {
				t.Fatal(err)
			}
			ents, _ := readStream(t, s)
			for _, e := range ents {
				if e.Backing == lb && e.Err == nil {
					t.Errorf("long name decoded without its sidecar: %+v", e)
				}
			}
		}
		s.Close()
	}
}

// TestStreamLarge streams directories around the size of one read
// buffer, checks that every name comes once, that seeking to the
// position after an entry continues with the next, also on a second
// stream of the directory, and that a rewind shows a new entry.
func TestStreamLarge(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	dir := root
	created := 0
	for _, n := range []int{1, 150, 300, 1200} {
		for ; created < n; created++ {
			createFile(t, dir, fmt.Sprintf("file-%04d", created))
		}
		s, err := dir.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		ents, pos := readStream(t, s)
		seen := map[string]bool{}
		for _, e := range ents {
			if e.Err != nil || seen[e.Name] {
				t.Fatalf("%d files: entry %+v (seen %v)", n, e, seen[e.Name])
			}
			seen[e.Name] = true
		}
		if len(seen) != n+2 || !seen["."] || !seen[".."] {
			t.Fatalf("%d files: %d entries", n, len(seen))
		}
		s2, err := dir.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{0, len(ents) / 3, len(ents) - 2} {
			for _, st := range []*Stream{s, s2} {
				if err := st.Seek(pos[k]); err != nil {
					t.Fatal(err)
				}
				e, _, ok, err := st.Next()
				if err != nil || !ok || e.Name != ents[k+1].Name {
					t.Fatalf("%d files: after seek to %d: %q %v %v, want %q", n, k, e.Name, ok, err, ents[k+1].Name)
				}
			}
		}
		if err := s.Seek(pos[len(pos)-1]); err != nil {
			t.Fatal(err)
		}
		if _, _, ok, err := s.Next(); ok || err != nil {
			t.Errorf("%d files: entry after the last: %v %v", n, ok, err)
		}
		createFile(t, dir, "new")
		if err := s.Seek(0); err != nil {
			t.Fatal(err)
		}
		ents, _ = readStream(t, s)
		if !slices.ContainsFunc(ents, func(e DirEntry) bool { return e.Name == "new" }) {
			t.Errorf("%d files: rewind does not show a new entry", n)
		}
		if err := unix.Unlinkat(dir.Fd(), mustBacking(t, dir, "new"), 0); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s2.Close()
	}
}

func mustBacking(t *testing.T, d *Dir, name string) string {
	t.Helper()
	b, err := d.BackingName(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStreamAltIV checks the stream of a directory holding a conflict
// copy of its IV: names sealed under either IV are shown, and positions
// seek as in any other directory.
func TestStreamAltIV(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	createFile(t, root, "main")
	// A name sealed under another IV, as another machine's copy of the
	// directory would hold, with that IV in a conflict copy of the IV file.
	other := make([]byte, DirIVLen)
	other[0] = 1
	b, _, err := v.EncryptName(other, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(v.Dir(), b), []byte{}, 0o600)
	os.WriteFile(filepath.Join(v.Dir(), "fernetfs.sync-conflict-20261204-101500-ABCDEFG.diriv"), other, 0o400)
	s, err := root.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.decoded == nil {
		t.Error("stream of a directory with an IV copy not decrypted at its start")
	}
	ents, pos := readStream(t, s)
	var names []string
	for _, e := range ents {
		if e.Err != nil {
			t.Errorf("entry %+v", e)
		}
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if want := []string{".", "..", "main", "theirs"}; !slices.Equal(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	if err := s.Seek(pos[1]); err != nil {
		t.Fatal(err)
	}
	if e, _, ok, err := s.Next(); !ok || err != nil || e.Name != ents[2].Name {
		t.Errorf("after seek: %q %v %v, want %q", e.Name, ok, err, ents[2].Name)
	}
}

// TestDecryptShortAgrees checks the stream's fast path against
// decryptName on backing names of every kind: where decryptShort
// accepts a name it must give the name decryptName gives, and it must
// accept the ordinary short tokens it exists for.
func TestDecryptShortAgrees(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root := openRoot(t, v)
	other := make([]byte, DirIVLen)
	other[0] = 1
	short := createFile(t, root, "a.txt")
	long := createFile(t, root, strings.Repeat("L", 200))
	theirs, _, err := v.EncryptName(other, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]bool{short: true}
	names := []string{
		short, long, theirs, LongNameSidecar(long), DirIVName, HeaderBackupName, "junk", "",
		short + ".sync-conflict-20261204-101500-ABCDEFG", short + " (conflicted copy 2026-12-04)",
		"fernetfs.sync-conflict-20261204-101500-ABCDEFG.diriv", ".fernetfs.tmp",
		short[:len(short)-4], short + "AAAA", strings.ToUpper(short[:1]) + short[1:],
	}
	// Tokens of impossible names, as a damaged or forged entry holds.
	nc := v.getNameCodec(v.keys.NameKey())
	for _, n := range []string{"a/b", ".", "..", ""} {
		names = append(names, string(nc.sealString(root.iv, n)))
	}
	v.putNameCodec(nc)
	for _, n := range []string{"b", strings.Repeat("x", 170), "..x", "with space"} {
		b := createFile(t, root, n)
		ok[b] = len(b) <= 255 && !strings.HasPrefix(b, LongNamePrefix)
		names = append(names, b)
	}
	for _, b := range names {
		var fast DirEntry
		accepted := root.decryptShort([]byte(b), &fast)
		slow := DirEntry{Backing: b}
		root.decryptName(&slow)
		if accepted && (slow.Err != nil || slow.Name != fast.Name) {
			t.Errorf("%q: decryptShort gives %q, decryptName %q (%v)", b, fast.Name, slow.Name, slow.Err)
		}
		if ok[b] && !accepted {
			t.Errorf("%q (%q): decryptShort declines an ordinary short name", b, slow.Name)
		}
	}
	pv := newTestVault(t, CreateOptions{PlaintextNames: true})
	if proot := openRoot(t, pv); proot.decryptShort([]byte("plain"), &DirEntry{}) {
		t.Error("decryptShort accepts a name in a plaintext-name vault")
	}
}
