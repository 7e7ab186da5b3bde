package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// mountInSubprocess mounts a new vault in the background with the real
// command (the test binary's "fernetfs"), started from "sh -c" with the
// given umask, and unmounts it in t.Cleanup. The mount process then has
// a umask of its own, unlike an in-process fs.Mount.
func mountInSubprocess(t *testing.T, umask string) string {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no /dev/fuse in CI: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
	dir := t.TempDir()
	backing, mnt, pw := filepath.Join(dir, "backing"), filepath.Join(dir, "mnt"), filepath.Join(dir, "pw")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := vault.Create(backing, []byte("pw"), vault.CreateOptions{Iterations: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A deadline for a hang, not a speed assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `umask "$1" && exec fernetfs mount --password-file "$2" "$3" "$4"`,
		"sh", umask, pw, backing, mnt)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("fernetfs", "unmount", mnt).CombinedOutput(); err != nil {
			t.Errorf("unmount: %v\n%s", err, out)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		if m, err := findMount(mnt); err != nil || m != nil {
			t.Errorf("%s still mounted after the test: %v %v", mnt, m, err)
		}
	})
	return mnt
}

// TestCreatedModesMatchLocal creates files (named and O_TMPFILE),
// directories, fifos and sockets with the modes pjdfstest tries (and the
// other setuid, setgid and sticky combinations), under several umasks, on a
// mount whose process was started with umask 022 and in a plain local
// directory: the modes must be the same. The kernel applies the caller's
// umask before the request reaches the mount, so the mount process must
// not apply its own on top.
func TestCreatedModesMatchLocal(t *testing.T) {
	mnt := mountInSubprocess(t, "022")
	local := t.TempDir()
	for _, top := range []string{mnt, local} {
		// A setgid parent: new directories inherit the bit.
		if err := os.Mkdir(filepath.Join(top, "sgid"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(top, "sgid"), 0o2777); err != nil {
			t.Fatal(err)
		}
	}
	// Each op creates path with mode and stats what it made.
	named := func(create func(p string, mode uint32) error) func(string, uint32, *unix.Stat_t) error {
		return func(p string, mode uint32, st *unix.Stat_t) error {
			if err := create(p, mode); err != nil {
				return err
			}
			return unix.Lstat(p, st)
		}
	}
	ops := map[string]func(path string, mode uint32, st *unix.Stat_t) error{
		"open": named(func(p string, mode uint32) error {
			fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, mode)
			if err == nil {
				err = unix.Close(fd)
			}
			return err
		}),
		"mkdir":      named(func(p string, mode uint32) error { return unix.Mkdir(p, mode) }),
		"mkfifo":     named(func(p string, mode uint32) error { return unix.Mkfifo(p, mode) }),
		"mknod-reg":  named(func(p string, mode uint32) error { return unix.Mknod(p, unix.S_IFREG|mode, 0) }),
		"mknod-fifo": named(func(p string, mode uint32) error { return unix.Mknod(p, unix.S_IFIFO|mode, 0) }),
		"mknod-sock": named(func(p string, mode uint32) error { return unix.Mknod(p, unix.S_IFSOCK|mode, 0) }),
		"bind": named(func(p string, mode uint32) error { // mode comes from the umask alone
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Bind(fd, &unix.SockaddrUnix{Name: p})
		}),
		// An unnamed file in p's directory.
		"tmpfile": func(p string, mode uint32, st *unix.Stat_t) error {
			fd, err := unix.Open(filepath.Dir(p), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, mode)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Fstat(fd, st)
		},
	}
	modes := []uint32{0o777, 0o4777, 0o2777, 0o1777, 0o6755, 0o620, 0o642, 0o0}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, umask := range []int{0, 0o002, 0o077} {
		unix.Umask(umask)
		for opName, op := range ops {
			for _, mode := range modes {
				for _, parent := range []string{"", "sgid"} {
					name := filepath.Join(parent, fmt.Sprintf("%s-%04o-%03o", opName, mode, umask))
					var got, want unix.Stat_t
					for _, c := range []struct {
						top string
						st  *unix.Stat_t
					}{{mnt, &got}, {local, &want}} {
						p := filepath.Join(c.top, name)
						if err := op(p, mode, c.st); err != nil {
							t.Fatalf("%s: %v", p, err)
						}
					}
					if got.Mode != want.Mode {
						t.Errorf("%s under umask %03o: mode %07o on the mount, %07o in a local directory", name, umask, got.Mode, want.Mode)
					}
				}
			}
		}
	}
}
