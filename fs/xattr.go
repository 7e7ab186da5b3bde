package fs

import (
	"bytes"
	"context"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

var (
	_ gofs.NodeGetxattrer    = (*node)(nil)
	_ gofs.NodeSetxattrer    = (*node)(nil)
	_ gofs.NodeRemovexattrer = (*node)(nil)
	_ gofs.NodeListxattrer   = (*node)(nil)
)

// userPrefix is the only xattr namespace the mount stores: user.*
// names and values are encrypted; security.*, trusted.* and system.*
// would be interpreted by the backing kernel, so they are not passed
// through.
const userPrefix = "user."

// hasUserXattrs: Linux allows user.* attributes only on regular files
// and directories.
func (n *node) hasUserXattrs() bool {
	m := n.StableAttr().Mode
	return m == unix.S_IFREG || m == unix.S_IFDIR
}

// withXattrPath runs fn on a /proc/self/fd path naming exactly n's
// backing inode (the directory's cached fd, or an O_PATH fd opened
// without following symlinks), so xattr calls cannot be redirected.
func (n *node) withXattrPath(fn func(path string) error) syscall.Errno {
	if d := n.cachedDir(); d != nil {
		defer n.releaseDir()
		return n.r().errno(n, "xattr", fn(procFdPath(d.Fd())))
	}
	p, d, backing, errno := n.at()
	if errno != 0 {
		// An unlinked but open file still has its content fd.
		if of := n.r().lookupOpen(n.key()); of != nil {
			defer n.r().releaseContent(of)
			return n.r().errno(n, "xattr", withFd(of, func(fd int) error { return fn(procFdPath(fd)) }))
		}
		return errno
	}
	defer p.releaseDir()
	fd, err := openAt(d.Fd(), backing, unix.O_PATH, 0)
	if err != nil {
		return n.r().errno(n, "xattr", err)
	}
	defer unix.Close(fd)
	return n.r().errno(n, "xattr", fn(procFdPath(fd)))
}

// Getxattr decrypts one user.* attribute. Other namespaces are not
// supported (as for setxattr): EOPNOTSUPP, which is what tells ls -l,
// cp and rsync that the filesystem has no SELinux labels or ACLs, so they
// stop asking for every file (ls caches it per device; ENODATA would cost
// two round trips per listed file). The kernel's security.capability
// probe takes it as "no capabilities", as it does ENODATA.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (size uint32, errno syscall.Errno) {
	defer n.r().guard("getxattr", &errno)
	if !strings.HasPrefix(attr, userPrefix) {
		return 0, syscall.EOPNOTSUPP
	}
	if !n.hasUserXattrs() {
		return 0, syscall.ENODATA
	}
	name, err := n.r().v.EncryptXattrName(attr)
	if err != nil {
		return 0, syscall.ENODATA
	}
	var tok []byte
	errno = n.withXattrPath(func(p string) error {
		var err error
		tok, err = getxattr(p, name)
		return err
	})
	if errno != 0 {
		return 0, errno
	}
	val, err := n.r().v.DecryptXattrValue(tok)
	if err != nil {
		return 0, n.r().errno(n, "getxattr "+attr, err)
	}
	if len(dest) == 0 {
		return uint32(len(val)), 0
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

// Setxattr stores an encrypted user.* attribute (flags XATTR_CREATE and
// XATTR_REPLACE pass through).
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) (errno syscall.Errno) {
	defer n.r().guard("setxattr", &errno)
	if n.r().readOnly {
		return syscall.EROFS
	}
	if !strings.HasPrefix(attr, userPrefix) {
		return syscall.EOPNOTSUPP
	}
	if !n.hasUserXattrs() {
		return syscall.EPERM
	}
	name, err := n.r().v.EncryptXattrName(attr)
	if err != nil {
		return syscall.ERANGE
	}
	tok := n.r().v.EncryptXattrValue(data)
	return n.withXattrPath(func(p string) error {
		return unix.Setxattr(p, name, tok, int(flags))
	})
}

// Removexattr removes a user.* attribute.
func (n *node) Removexattr(ctx context.Context, attr string) (errno syscall.Errno) {
	defer n.r().guard("removexattr", &errno)
	if n.r().readOnly {
		return syscall.EROFS
	}
	if !strings.HasPrefix(attr, userPrefix) {
		return syscall.EOPNOTSUPP
	}
	if !n.hasUserXattrs() {
		return syscall.ENODATA
	}
	name, err := n.r().v.EncryptXattrName(attr)
	if err != nil {
		return syscall.ENODATA
	}
	return n.withXattrPath(func(p string) error {
		return unix.Removexattr(p, name)
	})
}

// Listxattr lists the decrypted user.* names; backing attributes of
// other namespaces (an SELinux label, ACLs) are not part of the view.
func (n *node) Listxattr(ctx context.Context, dest []byte) (size uint32, errno syscall.Errno) {
	defer n.r().guard("listxattr", &errno)
	if !n.hasUserXattrs() {
		return 0, 0
	}
	var raw []byte
	errno = n.withXattrPath(func(p string) error {
		var err error
		raw, err = listxattr(p)
		return err
	})
	if errno != 0 {
		return 0, errno
	}
	var out []byte
	for _, name := range bytes.Split(raw, []byte{0}) {
		if !bytes.HasPrefix(name, []byte(userPrefix)) {
			continue
		}
		plain, err := n.r().v.DecryptXattrName(string(name))
		if err != nil {
			n.r().logOnce("xattr "+string(name), "%s: skipping undecodable xattr name %q: %v", n.r().path(n), name, err)
			continue
		}
		out = append(append(out, plain...), 0)
	}
	if len(dest) == 0 {
		return uint32(len(out)), 0
	}
	if len(dest) < len(out) {
		return uint32(len(out)), syscall.ERANGE
	}
	return uint32(copy(dest, out)), 0
}

// getxattr reads a whole backing attribute value.
func getxattr(path, name string) ([]byte, error) {
	for {
		sz, err := unix.Getxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, sz)
		n, err := unix.Getxattr(path, name, buf)
		if err == unix.ERANGE {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// listxattr reads the whole backing name list.
func listxattr(path string) ([]byte, error) {
	for {
		sz, err := unix.Listxattr(path, nil)
		if err != nil || sz == 0 {
			return nil, err
		}
		buf := make([]byte, sz)
		n, err := unix.Listxattr(path, buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
