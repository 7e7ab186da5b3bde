package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestOfflineDeepTree: a tree 60 directories deep with 100-byte names is
// far beyond PATH_MAX both as plaintext (6 KB) and in the backing (13 KB
// of name tokens), yet the mount serves it; fsck, cat and decrypt must
// too, since they walk with directory descriptors.
func TestOfflineDeepTree(t *testing.T) {
	backing, _ := newTestVault(t)
	var parts []string
	for i := range 60 {
		parts = append(parts, fmt.Sprintf("%02d-%s", i, strings.Repeat("d", 97)))
	}
	parts = append(parts, "deepest.txt")
	plain := strings.Join(parts, "/")
	const data = "at the bottom\n"
	mustCLI(t, data, "fernetfs-put", backing, plain) // creates the parents through the vault API

	r := mustCLI(t, "", "fsck", backing)
	if !strings.Contains(r.stdout, "1 files") || !strings.Contains(r.stdout, "61 directories") ||
		!strings.HasSuffix(r.stdout, "no problems\n") {
		t.Fatalf("fsck output: %s", r.stdout)
	}

	if r := mustCLI(t, "", "cat", backing, plain); r.stdout != data {
		t.Fatalf("cat gave %q, want %q", r.stdout, data)
	}

	out := filepath.Join(t.TempDir(), "out")
	mustCLI(t, "", "decrypt", backing, out)
	if got := string(readAtPath(t, out, parts)); got != data {
		t.Fatalf("restored deepest file holds %q, want %q", got, data)
	}
}
