package fs

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// longTests enables the long variants (the long differential run, all
// posixtest configurations for every test).
var longTests = flag.Bool("fernetfs.long", false, "run the long variants of the fs test suite")

// helperEnv selects a helper mode when the test binary is re-executed
// by runHelper: a process that mmaps or execs files on a FUSE mount
// must not be the process serving that mount (the page fault or the
// exec waits for a FUSE reply that the same process may be unable to
// give), so such work runs in a child process.
const helperEnv = "FERNETFS_TEST_HELPER"

// helperModes are the things a child process can be asked to do; each
// gets the arguments after the program name and reports a failure as
// an error (printed, exit status 1).
var helperModes = map[string]func(args []string) error{
	"mmap-shared":  helperMmapShared,
	"mmap-private": helperMmapPrivate,
	"mmap-extend":  helperMmapExtend,
	"setlk-probe":  helperSetlkProbe,
	// serve-allow-other is in chown_test.go, serve in crash_test.go.
	"serve-allow-other": helperServeAllowOther,
	"serve":             helperServe,
}

func init() {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	fn, ok := helperModes[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
	if err := fn(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperTimeout bounds a child process so a deadlocked mount fails the
// test with a message instead of hanging until the global timeout.
const helperTimeout = 3 * time.Minute

// runHelper re-executes the test binary in helper mode and returns its
// combined output; the child's failure fails the test.
func runHelper(t *testing.T, mode string, args ...string) string {
	t.Helper()
	out, err := runHelperErr(mode, nil, args...)
	if err != nil {
		t.Fatalf("helper %s %q: %v\n%s", mode, args, err, out)
	}
	return out
}

// runHelperErr is runHelper without failing: for tests that expect the
// child to fail. extraEnv is added to the child's environment.
func runHelperErr(mode string, extraEnv []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (child killed: %v)", err, ctx.Err())
	}
	return out.String(), err
}

// mmapPattern is the content helpers write through a mapping: byte i
// is a function of i and seed, so a misplaced page shows.
func mmapPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/4093) ^ seed
	}
	return b
}

// parseHelperArgs reads "path size seed" arguments.
func parseHelperArgs(args []string) (path string, size int, seed byte, err error) {
	if len(args) != 3 {
		return "", 0, 0, fmt.Errorf("want path size seed, got %q", args)
	}
	size, err = strconv.Atoi(args[1])
	if err != nil {
		return "", 0, 0, err
	}
	s, err := strconv.Atoi(args[2])
	if err != nil {
		return "", 0, 0, err
	}
	return args[0], size, byte(s), nil
}

// readBack reads path with read(2) and compares it to want.
func readBack(path string, want []byte) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read(2) after mmap: %d bytes, want %d, first difference at %d", len(got), len(want), diffAt(got, want))
	}
	return nil
}

// helperMmapShared overwrites an existing file of the given size
// through a shared mapping, msyncs, unmaps, and checks that read(2)
// and a fresh read-only mapping both see the new content.
func helperMmapShared(args []string) error {
	path, size, seed, err := parseHelperArgs(args)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	want := mmapPattern(size, seed)
	// Write back to front in uneven steps, so pages are dirtied out of
	// order and partially.
	for end := size; end > 0; end -= 1000 {
		copy(m[max(0, end-1000):end], want[max(0, end-1000):end])
	}
	if !bytes.Equal(m, want) {
		return errors.New("mapping does not hold what was written")
	}
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		return fmt.Errorf("msync: %w", err)
	}
	if err := unix.Munmap(m); err != nil {
		return err
	}
	if err := readBack(path, want); err != nil {
		return err
	}
	ro, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap read-only: %w", err)
	}
	defer unix.Munmap(ro)
	if !bytes.Equal(ro, want) {
		return fmt.Errorf("read-only mapping differs at %d", diffAt(ro, want))
	}
	return nil
}

// helperMmapPrivate writes into a private mapping and checks that the
// mapping shows the writes while the file (read(2)) keeps its old
// content: the original must be the pattern with seed 0.
func helperMmapPrivate(args []string) error {
	path, size, seed, err := parseHelperArgs(args)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	orig := mmapPattern(size, 0)
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("mmap private: %w", err)
	}
	if !bytes.Equal(m, orig) {
		unix.Munmap(m)
		return fmt.Errorf("private mapping shows wrong content at %d", diffAt(m, orig))
	}
	mine := mmapPattern(size, seed)
	copy(m, mine)
	if !bytes.Equal(m, mine) {
		unix.Munmap(m)
		return errors.New("private mapping lost its own writes")
	}
	if err := readBack(path, orig); err != nil {
		unix.Munmap(m)
		return fmt.Errorf("private mapping changed the file: %w", err)
	}
	return unix.Munmap(m)
}

// helperMmapExtend grows an empty file with ftruncate and fills it
// through a shared mapping, as databases do with their shm files.
func helperMmapExtend(args []string) error {
	path, size, seed, err := parseHelperArgs(args)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		return err
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	want := mmapPattern(size, seed)
	copy(m, want)
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		unix.Munmap(m)
		return fmt.Errorf("msync: %w", err)
	}
	if err := unix.Munmap(m); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return readBack(path, want)
}

// helperSetlkProbe tries a POSIX read lock on args[0] and expects
// EAGAIN (the parent holds a write lock), or success if
// FERNETFS_SETLK_WANT=ok.
func helperSetlkProbe(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want path, got %q", args)
	}
	f, err := os.OpenFile(args[0], os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := unix.Flock_t{Type: unix.F_RDLCK}
	err = unix.FcntlFlock(f.Fd(), unix.F_SETLK, &rd)
	if os.Getenv("FERNETFS_SETLK_WANT") == "ok" {
		return err
	}
	if err != unix.EAGAIN {
		return fmt.Errorf("F_SETLK read lock: %v, want EAGAIN", err)
	}
	return nil
}
