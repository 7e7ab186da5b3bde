package vault

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The frozen vault ../testdata/vault-torn (written by TestWriteTornFixture,
// chunk size 64) holds torn.txt as kill -9 left it in the middle of an
// in-place overwrite (chunk 4's line torn) and the killed mount's
// leftover journal. Putting the torn line back from the journal must
// give ../testdata/vault-torn.want byte for byte: any change to the
// journal format or its use fails here.
func TestFrozenTornVault(t *testing.T) {
	const src = "../testdata/vault-torn"
	dir := filepath.Join(t.TempDir(), "vault")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(src + ".password")
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unlock(dir, Credential{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	js, errs := v.OpenJournals(true)
	if len(errs) > 0 || len(js.Paths) != 1 || js.Records() != 1 {
		t.Fatalf("journals %q, %d records, %v", js.Paths, js.Records(), errs)
	}
	for _, name := range []string{"torn.txt", "intact.txt"} {
		want, err := os.ReadFile(filepath.Join(src+".want", name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(mustResolveIn(t, v, name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := v.OpenContent(f, name)
		damaged := c.Check(nil) != nil
		if damaged != (name == "torn.txt") {
			t.Fatalf("%s: damaged %v before the repair", name, damaged)
		}
		put, err := c.RestoreTorn(js, true)
		if err != nil {
			t.Fatal(err)
		}
		if wantPut := map[string]int{"torn.txt": 1}[name]; len(put) != wantPut || (wantPut == 1 && put[0] != 4) {
			t.Fatalf("%s: put back chunks %v", name, put)
		}
		if err := c.Check(nil); err != nil {
			t.Fatalf("%s after putting back %v: %v", name, put, err)
		}
		got, err := io.ReadAll(io.NewSectionReader(c, 0, 1<<40))
		c.Close()
		f.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v; want the %d golden bytes", name, len(got), err, len(want))
		}
	}
	if err := js.Remove(); err != nil {
		t.Fatal(err)
	}
	if js2, _ := v.OpenJournals(false); len(js2.Paths) != 0 {
		t.Fatalf("journals left: %q", js2.Paths)
	}
}

func mustResolveIn(t *testing.T, v *Vault, p string) string {
	t.Helper()
	b, err := v.ResolvePath(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
