//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fernetfs/fernetfs/vault"
)

// runScript runs the README's quick start, ../../run.sh, for a vault and
// mountpoint in a temporary directory, with stdin from input (nil: no
// input, not a terminal) or, with pty set, on a pseudo-terminal fed from
// input (through script(1)). The deadline is a bound for a hang, not a
// speed assertion.
func runScript(t *testing.T, env []string, input string, pty bool) (backing, mnt, out string, err error) {
	t.Helper()
	dir := t.TempDir()
	backing, mnt = filepath.Join(dir, "vault"), filepath.Join(dir, "mnt")
	t.Cleanup(func() {
		if m, _ := findMount(mnt); m != nil {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	script, err := filepath.Abs("../../run.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if pty {
		cmd = exec.CommandContext(ctx, "script", "-qefc", script, "/dev/null")
	} else {
		cmd = exec.CommandContext(ctx, script)
	}
	cmd.Env = append(os.Environ(), "FERNETFS_BACKING="+backing, "FERNETFS_MOUNTPOINT="+mnt, passwordEnv+"=",
		"XDG_STATE_HOME="+filepath.Join(dir, "state"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(input)
	b, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("run.sh hung:\n%s", b)
	}
	return backing, mnt, string(b), err
}

func requireRunScriptTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"fusermount3", "go", "script"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
}

func checkMounted(t *testing.T, mnt, out string) {
	t.Helper()
	m, err := findMount(mnt)
	if err != nil || m == nil || m.fstype != fuseType {
		t.Fatalf("%s not mounted (%v, %v); run.sh said:\n%s", mnt, m, err, out)
	}
}

// TestRunScriptAsksTwice: a new vault's password is asked for twice on
// the terminal and then never again (init and mount get it on a pipe).
func TestRunScriptAsksTwice(t *testing.T) {
	requireRunScriptTools(t)
	backing, mnt, out, err := runScript(t, nil, "s3cret word\ns3cret word\n", true)
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	checkMounted(t, mnt, out)
	// The pty echoes the typed-ahead input before bash turns echo off.
	if strings.Count(out, "New password for") != 1 || strings.Count(out, "Repeat password:") != 1 || strings.Contains(out, "Password for") {
		t.Fatalf("want the two new-password prompts and no other:\n%s", out)
	}
	if _, err := vault.Unlock(backing, vault.Credential{Password: []byte("s3cret word")}); err != nil {
		t.Fatalf("the vault does not open with the password typed twice: %v", err)
	}
}

// TestRunScriptWithoutTerminal: with FERNETFS_PASSWORD it sets up and
// mounts without a terminal; without it and without a terminal it fails
// at once, creating nothing.
func TestRunScriptWithoutTerminal(t *testing.T) {
	requireRunScriptTools(t)
	_, mnt, out, err := runScript(t, []string{passwordEnv + "=env pw"}, "", false)
	if err != nil {
		t.Fatalf("run.sh with %s: %v\n%s", passwordEnv, err, out)
	}
	checkMounted(t, mnt, out)

	backing, _, out, err := runScript(t, nil, "", false)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(out, "no terminal") {
		t.Fatalf("run.sh without password or terminal: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(backing, "fernetfs.json")); err == nil {
		t.Fatal("a vault was created without a password")
	}
}
