package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReverseGolden freezes the derivations of FORMAT.md "Reverse
// vaults": with a fixed master key, the derived directory IV, file ID,
// name, symlink target and view of a two-chunk file must stay these
// bytes, or every existing backup of a view would be uploaded again.
// The values were checked against an independent implementation of
// FORMAT.md in Python (cryptography's Fernet with the IVs given).
func TestReverseGolden(t *testing.T) {
	var master [32]byte
	for i := range master {
		master[i] = byte(i)
	}
	h := &Header{Format: FormatVersion, Features: []string{FeatureEncryptedNames, FeatureReverse}, ChunkSize: 64,
		KDF: KDF{Name: KDFName, Iterations: 1, Salt: make([]byte, saltLen)}}
	dir := t.TempDir()
	r := newReverse(dir, h, master, DeriveKeys(master))
	plain := strings.Repeat("fernetfs reverse golden\n", 5)[:100]
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := r.OpenContent(f, "dir/file", int64(len(plain)))
	view, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil {
		t.Fatal(err)
	}
	name, _, err := r.EncryptName(r.DirIV("dir"), "file")
	if err != nil {
		t.Fatal(err)
	}
	link, err := r.EncryptSymlink("dir/ln", "../target")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(view)
	for _, g := range []struct{ what, got, want string }{
		{"root diriv", hex.EncodeToString(r.DirIV("")), "3560bd55d8c3ad345e9f6d30af66ed6e"},
		{"diriv of dir", hex.EncodeToString(r.DirIV("dir")), "e3cbc8d962ef3a0cf77abb673bba98db"},
		{"file ID of dir/file", hex.EncodeToString(r.FileID("dir/file")), "f11e7c1faad0948655351b82aa1a0699"},
		{"name of dir/file", name, "gAAAAAAAAAAAb1zKnq8Dxz5E7v2c5H4Ru3avifEqQvq7XqDKnRcJEI8wzgTZrwHtuD3ZRlDKxgqZr0sT02F8gF7QL8lonhIkyA=="},
		{"symlink dir/ln", link, "gAAAAAAAAAAAwtWVILuPwbjJYGCmIjN0yjar9ZNFiNVdyG3UoDDareDAjcRLa_ET04QQDwUniAKaGrojgM2onPuNnDHiO3N_YA=="},
		{"view of dir/file (sha256)", hex.EncodeToString(sum[:]), "5fef35366f69bd34e405782a21a935efe5bb8c608ab77cc6b327b4977848d36a"},
		{"view's header mac", hex.EncodeToString(r.fwd.header.MAC), "5766c48574ee7c95cfba9c8a82c311fa7605a7bcf01f416659fd4fc315814df5"},
	} {
		if g.got != g.want {
			t.Errorf("%s: %s, want %s", g.what, g.got, g.want)
		}
	}
}
