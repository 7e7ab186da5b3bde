package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

var (
	_ gofs.NodeGetxattrer  = (*rnode)(nil)
	_ gofs.NodeListxattrer = (*rnode)(nil)
)

// Getxattr: the reverse view has no extended attributes. ENOSYS rather
// than ENODATA makes the kernel remember that for the whole mount and
// answer every later getxattr itself (EOPNOTSUPP), without a round trip
// to the daemon: ls -l asks for two or three attributes of every entry
// (security.selinux, the POSIX ACLs), more requests than everything else
// a listing sends. Backup tools (restic, rsync -X, cp -a) take
// EOPNOTSUPP as "no attributes".
func (n *rnode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Listxattr answers ENOSYS for the same reason as Getxattr.
func (n *rnode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}
