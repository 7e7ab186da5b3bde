package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// mkfifoAt makes a FIFO named name in the directory open as dirfd.
func mkfifoAt(dirfd int, name string, mode uint32) error {
	return unix.Mknodat(dirfd, name, unix.S_IFIFO|mode, 0)
}

// punchHole frees n bytes of f from off on, keeping its size.
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
