//go:build !linux

package vault

import "syscall"

// fallocateKeepSize is not offered elsewhere than on Linux (the mount,
// the only caller that reserves space, is Linux-only).
func fallocateKeepSize(fd uintptr, off, n int64) error { return syscall.EOPNOTSUPP }
