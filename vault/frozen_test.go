package vault

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// The frozen example vault in ../testdata/vault-v1 was written once by a
// real mount (testdata/make-vault-v1.sh) from ../testdata/vault-v1.plain.
// Decrypting it must give that tree back byte for byte: any change to the
// format, the key derivation or the name encryption fails here.
const (
	frozenVault    = "../testdata/vault-v1"
	frozenPlain    = "../testdata/vault-v1.plain"
	frozenPassword = "../testdata/vault-v1.password"
)

func frozenUnlock(t *testing.T) *Vault {
	t.Helper()
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unlock(frozenVault, Credential{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// treeEntry is what a restore must reproduce of one path.
type treeEntry struct {
	kind    fs.FileMode // ModeDir, ModeSymlink or 0
	content string      // file bytes or link target
}

// plainTree reads a plaintext directory tree.
func plainTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	tree := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			tree[rel] = treeEntry{fs.ModeSymlink, target}
			return err
		case d.IsDir():
			tree[rel] = treeEntry{kind: fs.ModeDir}
		default:
			b, err := os.ReadFile(p)
			tree[rel] = treeEntry{0, string(b)}
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// vaultTree decrypts a whole vault with the vault package alone.
func vaultTree(t *testing.T, v *Vault) map[string]treeEntry {
	t.Helper()
	tree := map[string]treeEntry{}
	err := v.Walk(func(e WalkEntry) error {
		if e.Err != nil {
			t.Errorf("walk %q (%s): %v", e.Path, e.BackingPath, e.Err)
			return nil
		}
		if e.Path == "" {
			return nil
		}
		switch mode := e.Info.Mode(); {
		case mode&fs.ModeSymlink != 0:
			tok, err := os.Readlink(e.BackingPath)
			if err != nil {
				return err
			}
			target, err := v.DecryptSymlink(tok)
			if err != nil {
				t.Errorf("%s: %v", e.Path, err)
			}
			tree[e.Path] = treeEntry{fs.ModeSymlink, target}
		case mode.IsDir():
			tree[e.Path] = treeEntry{kind: fs.ModeDir}
		default:
			f, err := os.Open(e.BackingPath)
			if err != nil {
				return err
			}
			defer f.Close()
			c := v.OpenContent(f, e.Path)
			if err := c.Check(nil); err != nil {
				t.Errorf("%s: %v", e.Path, err)
			}
			b, err := io.ReadAll(io.NewSectionReader(c, 0, 1<<40))
			if err != nil {
				t.Errorf("%s: %v", e.Path, err)
			}
			tree[e.Path] = treeEntry{0, string(b)}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func compareTrees(t *testing.T, got, want map[string]treeEntry) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: missing", p)
		case g.kind != want[p].kind:
			t.Errorf("%s: kind %v, want %v", p, g.kind, want[p].kind)
		case g.content != want[p].content:
			t.Errorf("%s: content differs (%d bytes, want %d)", p, len(g.content), len(want[p].content))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected entry", p)
		}
	}
}

func TestFrozenVault(t *testing.T) {
	v := frozenUnlock(t)
	want := plainTree(t, frozenPlain)
	if len(want) < 10 {
		t.Fatalf("fixture tree has only %d entries", len(want))
	}
	compareTrees(t, vaultTree(t, v), want)
	if v.ChunkSize() != 4096 || v.PlaintextNames() {
		t.Fatalf("fixture parameters changed: chunk %d plaintext-names %v", v.ChunkSize(), v.PlaintextNames())
	}
	// Holes stay holes in the frozen file: its middle chunks are NUL lines.
	raw, err := os.ReadFile(filepath.Join(frozenVault, mustResolve(t, v, "sparse.bin")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, make([]byte, 2*fernet.TokenLen(4096))) {
		t.Fatal("sparse.bin has no hole chunks in the backing file")
	}
}

func mustResolve(t *testing.T, v *Vault, p string) string {
	t.Helper()
	b, err := v.ResolvePath(p)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(v.Dir(), b)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}
