package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// TestKillSuidgid checks that writes and truncation by a caller without
// CAP_FSETID clear setuid (and group-executable setgid) as on a local
// filesystem, now that the mount does it itself (HANDLE_KILLPRIV_V2),
// while the daemon's own privileges keep such writes from clearing them
// on the backing file. It runs shell commands as nobody on an
// allow_other mount, so it needs root.
func TestKillSuidgid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (runs commands as another user)")
	}
	_, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{AllowOther: true})
	// t.TempDir's directories are private; nobody must reach the mount.
	for d := filepath.Dir(m.dir); d != filepath.Dir(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if d == os.TempDir() {
			break
		}
	}
	if err := os.Chmod(m.dir, 0o755); err != nil { // the vault's root
		t.Fatal(err)
	}
	asNobody := func(t *testing.T, script, path string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", script, "sh", path)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("as nobody: %s %s: %v\n%s", script, path, err, out)
		}
	}
	mode := func(t *testing.T, path string) os.FileMode {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return os.FileMode(st.Mode & 0o7777)
	}
	setup := func(t *testing.T, name string, perm uint32) string {
		t.Helper()
		p := filepath.Join(m.dir, name)
		if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		perm   uint32
		script string
		want   os.FileMode
		data   string
	}{
		{"append suid sgid", 0o6777, `printf x >> "$1"`, 0o777, "0123456789x"},
		{"overwrite suid", 0o4766, `printf ab | dd of="$1" conv=notrunc status=none`, 0o766, "ab23456789"},
		{"sgid without group exec stays", 0o2766, `printf x >> "$1"`, 0o2766, "0123456789x"},
		{"O_TRUNC", 0o6777, `: > "$1"`, 0o777, ""},
		{"truncate", 0o6777, `truncate -s 3 "$1"`, 0o777, "012"},
		{"read keeps them", 0o6777, `cat "$1" > /dev/null`, 0o6777, "0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := setup(t, "f", tc.perm)
			asNobody(t, tc.script, p)
			if got := mode(t, p); got != tc.want {
				t.Errorf("mode after %q: %04o, want %04o", tc.script, got, tc.want)
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != tc.data {
				t.Errorf("content %q, %v; want %q", b, err, tc.data)
			}
		})
	}
	t.Run("root keeps them", func(t *testing.T) {
		p := setup(t, "g", 0o6777)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("x"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got := mode(t, p); got != 0o6777 {
			t.Errorf("mode after root's write: %04o, want 6777", got)
		}
	})
}
