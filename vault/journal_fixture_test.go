//go:build fixture

package vault

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteTornFixture regenerates the frozen vault ../testdata/vault-torn
// (see TestFrozenTornVault): run it only on purpose, with
// go test -tags fixture -run TestWriteTornFixture ./vault/
// torn.txt is left as kill -9 leaves a file whose in-place overwrite of
// chunks 3..6 was torn inside chunk 4's line, with the mount's leftover
// journal beside it; intact.txt is a sound file.
func TestWriteTornFixture(t *testing.T) {
	const dir = "../testdata/vault-torn"
	pw, err := os.ReadFile(dir + ".password")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, err := Create(dir, pw, CreateOptions{Iterations: 1000, ChunkSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	r := rand.New(rand.NewPCG(2026, 12))
	put := func(name string, b []byte) {
		backing, err := root.PrepareName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, backing), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir+".want", name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.RemoveAll(dir + ".want")
	os.Mkdir(dir+".want", 0o755)

	intact := randBytes(r, 300)
	mb := &memBacking{}
	if _, err := v.OpenContent(mb, "intact.txt").WriteAt(intact, 0); err != nil {
		t.Fatal(err)
	}
	put("intact.txt", mb.data)
	os.WriteFile(filepath.Join(dir+".want", "intact.txt"), intact, 0o644)

	v.StartJournal()
	old, news := randBytes(r, 1000), randBytes(r, 256)
	tb := &tearBacking{v: v}
	c := v.OpenContent(tb, "torn.txt")
	if _, err := c.WriteAt(old, 0); err != nil {
		t.Fatal(err)
	}
	start := bytes.Clone(tb.data)
	tb.ops = nil
	if _, err := c.WriteAt(news, 3*64); err != nil {
		t.Fatal(err)
	}
	if len(tb.ops) != 1 {
		t.Fatalf("%d backing writes, want 1", len(tb.ops))
	}
	op := tb.ops[0]
	lay := newLayout(64)
	torn := bytes.Clone(start)
	cut := lay.lineOff(4) + 100 - op.off // inside chunk 4's token
	copy(torn[op.off:], op.b[:cut])
	put("torn.txt", torn)
	// The allocated, empty slots after the record are left out (a
	// journal's last slot may be cut short).
	jb := bytes.TrimRight(op.journal, "\x00")
	if err := os.WriteFile(filepath.Join(dir, JournalPrefix+"00000000000000f1"), jb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.StopJournal(); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(old)
	copy(want[3*64:4*64], news[:64]) // chunk 3 was written whole
	os.WriteFile(filepath.Join(dir+".want", "torn.txt"), want, 0o644)
}
