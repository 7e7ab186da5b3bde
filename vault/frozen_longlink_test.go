package vault

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The frozen vault ../testdata/vault-v1-longlink (testdata/
// make-vault-v1-longlink.sh, through a real mount) holds a 4095-byte
// symlink target in the long-link form and a header with created_by: a
// change to either encoding fails here, and so does losing the ability
// to read them.
const frozenLongLinkVault = "../testdata/vault-v1-longlink"

func frozenLongLinkTree() map[string]treeEntry {
	return map[string]treeEntry{
		"dir":       {kind: fs.ModeDir},
		"dir/long":  {fs.ModeSymlink, strings.Repeat("long/", 819)},
		"dir/short": {fs.ModeSymlink, "short-target"},
	}
}

func TestFrozenLongLinkVault(t *testing.T) {
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unlock(frozenLongLinkVault, Credential{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Header().CreatedBy; got != "fernetfs (devel)" {
		t.Fatalf("created_by %q", got)
	}
	compareTrees(t, vaultTree(t, v), frozenLongLinkTree())
	side, _ := filepath.Glob(filepath.Join(frozenLongLinkVault, LongLinkPrefix+"*"))
	if len(side) != 1 {
		t.Fatalf("fixture has %d long-link sidecars, want 1", len(side))
	}
}

func TestPythonRecoveryFrozenLongLinkVault(t *testing.T) {
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	out := runRecovery(t, frozenLongLinkVault, pw)
	compareTrees(t, plainTree(t, out), frozenLongLinkTree())
}
