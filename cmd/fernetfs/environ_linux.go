package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// wipeInitialEnv overwrites the entries "name=..." of the environment
// block the process was started with (what /proc/PID/environ reads) with
// NUL bytes, in place so that any pointer into it stays valid. The Go
// runtime keeps its own copy, so nothing reads the block afterwards. It
// writes with process_vm_writev, which needs no file and keeps working
// after PR_SET_DUMPABLE 0 makes /proc/self/mem root's. Best effort: on
// failure the variable is gone from os.Environ and child processes, but
// not from /proc/PID/environ.
func wipeInitialEnv(name string) {
	start, end, ok := initialEnvBounds()
	if !ok || end <= start || end-start > 1<<20 {
		return
	}
	block := make([]byte, end-start)
	local := []unix.Iovec{{Base: &block[0]}}
	local[0].SetLen(len(block))
	remote := []unix.RemoteIovec{{Base: start, Len: len(block)}}
	pid := os.Getpid()
	if n, err := unix.ProcessVMReadv(pid, local, remote, 0); err != nil || n != len(block) {
		return
	}
	prefix := []byte(name + "=")
	for off := 0; off < len(block); {
		n := bytes.IndexByte(block[off:], 0)
		if n < 0 {
			n = len(block) - off
		}
		if bytes.HasPrefix(block[off:off+n], prefix) {
			zeros := make([]byte, n)
			l := []unix.Iovec{{Base: &zeros[0]}}
			l[0].SetLen(n)
			unix.ProcessVMWritev(pid, l, []unix.RemoteIovec{{Base: start + uintptr(off), Len: n}}, 0)
		}
		off += n + 1
	}
}

// initialEnvBounds reads env_start and env_end, fields 50 and 51 of
// /proc/self/stat (proc(5)).
func initialEnvBounds() (start, end uintptr, ok bool) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, false
	}
	// Field 2 (the command name) may contain spaces and parentheses;
	// the fields after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3
	if len(f) < 51-2 {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(f[50-3], 10, 64)
	e, err2 := strconv.ParseUint(f[51-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
