package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// mountInSubprocess mounts a new vault in the background with the real
// command (the test binary's "fernetfs"), started from "sh -c" with the
// given umask and extra mount flags, and unmounts it in t.Cleanup. The
// mount process then has a umask of its own, unlike an in-process
// fs.Mount. Everything down to the mountpoint may be searched by other
// users.
func mountInSubprocess(t *testing.T, umask string, flags ...string) string {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no /dev/fuse in CI: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
	dir := searchableTempDir(t)
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
	args := append([]string{"sh", umask, pw, backing, mnt}, flags...)
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask "$1" && p=$2 b=$3 m=$4 && shift 4 && exec fernetfs mount --password-file "$p" "$@" "$b" "$m"`}, args...)...)
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
	if err := os.Chmod(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return mnt
}

// searchableTempDir is a t.TempDir that, with its parent, other users
// may search (t.TempDir makes both 0700).
func searchableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// createOp creates path with mode and stats what it made.
type createOp func(path string, mode uint32, st *unix.Stat_t) error

// createOps are the calls that create entries with a caller's mode.
func createOps() map[string]createOp {
	named := func(create func(p string, mode uint32) error) createOp {
		return func(p string, mode uint32, st *unix.Stat_t) error {
			if err := create(p, mode); err != nil {
				return err
			}
			return unix.Lstat(p, st)
		}
	}
	return map[string]createOp{
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
}

// createModes are the modes pjdfstest tries, and the other setuid,
// setgid and sticky combinations.
var createModes = []uint32{0o777, 0o4777, 0o2777, 0o1777, 0o6755, 0o620, 0o642, 0o0}

// createAll makes every createOps entry with every createModes mode
// under umask in dir/parent for each dir, and returns the stat results
// per entry name, one per dir.
func createAll(dirs []string, parents []string, umask int) (map[string][]unix.Stat_t, error) {
	old := unix.Umask(umask)
	defer unix.Umask(old)
	got := make(map[string][]unix.Stat_t)
	for opName, op := range createOps() {
		for _, mode := range createModes {
			for _, parent := range parents {
				name := filepath.Join(parent, fmt.Sprintf("%s-%04o-%03o", opName, mode, umask))
				sts := make([]unix.Stat_t, len(dirs))
				for i, dir := range dirs {
					if err := op(filepath.Join(dir, name), mode, &sts[i]); err != nil {
						return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
					}
				}
				got[name] = sts
			}
		}
	}
	return got, nil
}

// TestCreatedModesMatchLocal creates files (named and O_TMPFILE),
// directories, fifos and sockets with createModes under several umasks,
// on a mount whose process was started with umask 022 and in a plain
// local directory: the modes must be the same. The kernel applies the
// caller's umask before the request reaches the mount, so the mount
// process must not apply its own on top.
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
	for _, umask := range []int{0, 0o002, 0o077} {
		got, err := createAll([]string{mnt, local}, []string{"", "sgid"}, umask)
		if err != nil {
			t.Fatal(err)
		}
		for name, sts := range got {
			if sts[0].Mode != sts[1].Mode {
				t.Errorf("%s under umask %03o: mode %07o on the mount, %07o in a local directory", name, umask, sts[0].Mode, sts[1].Mode)
			}
		}
	}
}

func init() { platformTestCommands["fernetfs-mkmodes"] = mkModesCommand }

// mkModesCommand is the test-only "fernetfs-mkmodes UMASK DIR...": it
// runs createAll in the DIRs (under their "sgid" subdirectory too) and
// prints each entry's mode in each DIR. TestCreatedModesOtherUser runs
// it as another user.
func mkModesCommand() {
	umask, err := strconv.ParseInt(os.Args[1], 8, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	got, err := createAll(os.Args[2:], []string{"", "sgid"}, int(umask))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, sts := range got {
		fmt.Print(name)
		for _, st := range sts {
			fmt.Printf(" %07o", st.Mode)
		}
		fmt.Println()
	}
}

// TestCreatedModesOtherUser is TestCreatedModesMatchLocal for another
// user on an --allow-other mount served by root: the mount process
// creates the entry and then chowns it to the caller, and chown clears
// setuid and setgid even when root calls it, which a local filesystem
// (creating the entry as the caller) does not do.
func TestCreatedModesOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to serve a mount for another user")
	}
	mnt := mountInSubprocess(t, "022", "--allow-other")
	local := searchableTempDir(t)
	for _, top := range []string{mnt, local} {
		if err := os.Chmod(top, 0o777); err != nil {
			t.Fatal(err)
		}
		// A setgid parent of a group the user is not in: the kernel
		// drops the setgid bit of new files.
		if err := os.Mkdir(filepath.Join(top, "sgid"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(top, "sgid"), 0o2777); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary, where the other user may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(searchableTempDir(t), "fernetfs-mkmodes")
	copyExecutable(t, self, exe)
	for _, umask := range []string{"0", "002", "077"} {
		cmd := exec.Command(exe, umask, mnt, local)
		cmd.Args[0] = "fernetfs-mkmodes"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("fernetfs-mkmodes as uid 65534: %v\n%s", err, out)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			var name string
			var onMount, inLocal uint32
			if _, err := fmt.Sscanf(line, "%s %o %o", &name, &onMount, &inLocal); err != nil {
				t.Fatalf("fernetfs-mkmodes printed %q: %v", line, err)
			}
			n++
			if onMount != inLocal {
				t.Errorf("%s by uid 65534 under umask %s: mode %07o on the mount, %07o in a local directory", name, umask, onMount, inLocal)
			}
		}
		if want := len(createOps()) * len(createModes) * 2; n != want {
			t.Fatalf("fernetfs-mkmodes reported %d entries, want %d", n, want)
		}
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
