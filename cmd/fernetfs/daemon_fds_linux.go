package main

import (
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedFds closes every file descriptor above stderr that this
// process inherited across exec, except keep. A background mount runs
// until unmounted; holding a descriptor its caller passed down (a pipe
// from a command substitution, a CI runner's log pipe, systemd's
// notification socket) would make whoever waits for EOF on it wait for
// the unmount.
//
// Inherited descriptors are exactly the ones without FD_CLOEXEC: exec
// closed all others, and everything the Go runtime and this program open
// (the poller, pipes, files, sockets) is close-on-exec, so they are left
// alone.
func closeInheritedFds(keep ...int) {
	for _, fd := range openFds() {
		if fd <= 2 || slices.Contains(keep, fd) {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

// openFds lists this process's descriptors from /proc/self/fd, or
// without /proc every number below the descriptor limit.
func openFds() []int {
	var fds []int
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			for _, n := range names {
				if fd, err := strconv.Atoi(n); err == nil {
					fds = append(fds, fd)
				}
			}
			return fds
		}
	}
	var lim unix.Rlimit
	max := 1024
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 1<<20 {
		max = int(lim.Cur)
	}
	for fd := 0; fd < max; fd++ {
		fds = append(fds, fd)
	}
	return fds
}
