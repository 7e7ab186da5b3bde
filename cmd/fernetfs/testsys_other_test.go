//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// mkfifoAt refuses: golang.org/x/sys has no mkfifoat here, and making a
// FIFO by path could follow a symlink.
func mkfifoAt(dirfd int, name string, mode uint32) error {
	return fmt.Errorf("put --fifo %q: no mkfifoat on %s: %w", name, runtime.GOOS, unix.ENOTSUP)
}

// punchHole refuses: punching holes is Linux's fallocate.
func punchHole(f *os.File, off, n int64) error {
	return fmt.Errorf("corrupt -punch %q: no hole punching on %s: %w", f.Name(), runtime.GOOS, unix.ENOTSUP)
}
