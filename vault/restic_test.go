package vault

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestResticRoundTrip is the backup use case: back up BACKING with restic,
// restore it elsewhere, and unlock and read the restored copy. It catches
// anything that ties a vault to its original location (absolute paths,
// inode numbers, xattrs that a backup drops).
func TestResticRoundTrip(t *testing.T) {
	restic, err := exec.LookPath("restic")
	if err != nil {
		t.Skip("restic not installed (apt-get install restic)")
	}
	v := newTestVault(t, CreateOptions{ChunkSize: 64})
	want := map[string]treeEntry{
		"a.txt":                           {0, "alpha"},
		"big":                             {0, strings.Repeat("0123456789", 500)},
		"holes":                           {0, string(make([]byte, 640)) + "x"},
		"dir":                             {kind: fs.ModeDir},
		"dir/b.txt":                       {0, "beta"},
		"dir/ln":                          {fs.ModeSymlink, "../a.txt"},
		"dir/" + strings.Repeat("n", 150): {0, "long"},
	}
	writeTree(t, v, want)

	tmp := t.TempDir()
	repo, restored := filepath.Join(tmp, "repo"), filepath.Join(tmp, "restored")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(restic, append([]string{"--repo", repo, "--no-cache", "--quiet"}, args...)...)
		cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=restic-test")
		cmd.Dir = v.Dir()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restic %s: %v\n%s", args[0], err, out)
		}
	}
	run("init")
	run("backup", ".")
	run("restore", "latest", "--target", restored)

	v2, err := Unlock(restored, Credential{Password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	compareTrees(t, vaultTree(t, v2), want)
}
