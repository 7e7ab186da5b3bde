package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// testPassword unlocks the vaults of the offline-tool tests.
const testPassword = "pw"

// cliResult is what one in-process fernetfs command line did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs a fernetfs command line in-process, with the password in
// the environment and stdin holding stdin.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string {
			if k == passwordEnv {
				return testPassword
			}
			return ""
		},
		terminal: func() (*os.File, error) { return nil, errNoTerminal },
	}
	var code int
	if len(args) > 0 && args[0] == "fernetfs-put" {
		code = runPut(e, args[1:])
	} else {
		code = run(e, args)
	}
	return cliResult{code, out.String(), errb.String()}
}

// mustCLI is runCLI that fails the test unless the command exits 0.
func mustCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("fernetfs %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// newTestVault creates an empty vault (cheap KDF) and returns its
// backing directory and the unlocked vault.
func newTestVault(t *testing.T) (string, *vault.Vault) {
	t.Helper()
	backing := filepath.Join(t.TempDir(), "vault")
	if err := os.Mkdir(backing, 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, err := vault.Create(backing, []byte(testPassword), vault.CreateOptions{Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return backing, v
}

// backingPath is the backing path of plain in v (short paths only).
func backingPath(t *testing.T, v *vault.Vault, plain string) string {
	t.Helper()
	b, err := v.ResolvePath(plain)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAtPath reads a file below root by opening one component at a time
// relative to the previous directory, so paths beyond PATH_MAX work.
func readAtPath(t *testing.T, root string, rel []string) []byte {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range rel {
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(rel)-1 {
			flags |= unix.O_DIRECTORY
		}
		next, err := unix.Openat(fd, p, flags, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("component %d of %d: %v", i+1, len(rel), err)
		}
		fd = next
	}
	f := os.NewFile(uintptr(fd), "leaf")
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// statNoFollow lstats name, or fails the test.
func statNoFollow(t *testing.T, name string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// getxattr reads one attribute of a file, or reports ENODATA.
func getxattr(path, name string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

var errNoXattr = unix.ENODATA

func isNoXattr(err error) bool { return errors.Is(err, errNoXattr) }
