package fs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fernetfs/fernetfs/vault"
)

// needTool finds a program a test needs: without it the test skips, or
// fails when $CI is set (.ci/run installs everything).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// helperServeAllowOther mounts the vault BACKING (testPassword) at
// MOUNTPOINT with allow_other, says "mounted" on stdout and serves until
// stdin is closed.
func helperServeAllowOther(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want BACKING MOUNTPOINT, got %q", args)
	}
	v, err := vault.Unlock(args[0], vault.Credential{Password: testPassword})
	if err != nil {
		return err
	}
	srv, err := Mount(v, args[1], Options{AllowOther: true})
	if err != nil {
		return err
	}
	fmt.Println("mounted")
	io.Copy(io.Discard, os.Stdin)
	err = srv.Unmount()
	v.StopJournal()
	return err
}

// TestCreateFailedChownLeavesNothing runs the mount as root without
// CAP_CHOWN (setpriv), so giving a file created by another user to that
// user fails: the create must fail and leave no file behind, where it
// used to succeed with the file left owned by root.
func TestCreateFailedChownLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (runs commands as another user)")
	}
	requireFuse(t)
	setpriv := needTool(t, "setpriv")
	backing, _ := newTestVault(t, vault.CreateOptions{})
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's directories are private; nobody must reach the mount.
	for _, d := range []string{filepath.Dir(mnt), filepath.Dir(filepath.Dir(mnt))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(backing, 0o777); err != nil { // the vault's root
		t.Fatal(err)
	}

	cmd := exec.Command(setpriv, "--inh-caps=-chown", "--bounding-set=-chown", os.Args[0], backing, mnt)
	cmd.Env = append(os.Environ(), helperEnv+"=serve-allow-other")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("mount helper: %v\n%s", err, stderr.String())
		}
		if isMounted(t, mnt) {
			t.Errorf("%s is still mounted", mnt)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "mounted\n" {
		t.Fatalf("mount helper: %q, %v\n%s", line, err, stderr.String())
	}

	p := filepath.Join(mnt, "new.txt")
	sh := exec.Command("/bin/sh", "-c", `echo data > "$1"`, "sh", p)
	sh.Dir = "/"
	sh.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := sh.CombinedOutput()
	var st syscall.Stat_t
	statErr := syscall.Lstat(p, &st)
	switch {
	case err == nil && statErr == nil && st.Uid != 65534:
		t.Fatalf("create as nobody succeeded, file owned by uid %d", st.Uid)
	case err == nil:
		t.Fatalf("create as nobody succeeded without CAP_CHOWN in the daemon (stat: %v)", statErr)
	case !errors.Is(statErr, syscall.ENOENT):
		t.Errorf("after the failed create (%s): stat: %v, uid %d; want no file", strings.TrimSpace(string(out)), statErr, st.Uid)
	}
	ents, err := os.ReadDir(backing)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !vault.IsReservedName(e.Name()) {
			t.Errorf("backing entry %s left by the failed create", e.Name())
		}
	}
}
