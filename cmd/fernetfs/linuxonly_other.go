//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// The mount needs Linux's FUSE (go-fuse, /proc/self/mountinfo,
// fusermount3), and decrypt restores through Linux-only descriptor calls
// (O_PATH, AT_EMPTY_PATH, utimensat on a descriptor); elsewhere these
// commands are listed but refuse with one line, while init, passwd, info,
// fsck and cat work on the backing directory as on Linux.

func mountCommand() *command {
	return &command{
		name:     "mount",
		synopsis: "BACKING MOUNTPOINT",
		summary:  "show a vault's plaintext at MOUNTPOINT (FUSE, Linux only)",
		help: `
Mounting needs Linux. On this system, use "fernetfs cat" to read a
vault's files.`,
		run: linuxOnly,
	}
}

func unmountCommand() *command {
	return &command{
		name:     "unmount",
		synopsis: "MOUNTPOINT",
		summary:  "unmount a mounted vault (Linux only)",
		help: `
Mounting needs Linux, so there is nothing to unmount on this system.`,
		run: linuxOnly,
	}
}

func decryptCommand() *command {
	return &command{
		name:     "decrypt",
		synopsis: "BACKING OUTDIR",
		summary:  "restore a vault's whole plaintext tree into OUTDIR (Linux only)",
		help: `
decrypt needs Linux. On this system, use "fernetfs cat" to read a vault's
files one by one.`,
		run: linuxOnly,
	}
}

// linuxOnly refuses a command that needs Linux (exit status 1).
func linuxOnly(e *env, c *command, args []string) error {
	return fmt.Errorf("%s: not supported on %s: it needs Linux (use cat to read a vault's files here)", c.name, runtime.GOOS)
}
