package vault

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// xattrMax is the kernel's limit on both a name list and one value
// (XATTR_LIST_MAX, XATTR_SIZE_MAX): one buffer this size always suffices.
const xattrMax = 64 << 10

// Xattr is one user.* attribute of a backing file as ReadXattrs found it.
type Xattr struct {
	// Name is the plaintext name ("" if it does not decrypt).
	Name string
	// Value is the plaintext value (nil if Err is set).
	Value []byte
	// Backing is the attribute's encrypted name on the backing file.
	Backing string
	// Err wraps ErrCorrupt when the name or the value does not decrypt.
	Err error
}

// ReadXattrs lists and decrypts every user.* attribute of the backing
// file or directory open as fd, sorted by plaintext name; fsck checks
// each, decrypt restores them. Attributes of other namespaces (an SELinux
// label the backing filesystem added) are not part of the vault and are
// left out. One attribute that does not decrypt is reported in its Err
// and does not hide the others; the error return is for a failure to
// list at all. A backing filesystem without xattrs has none.
func (v *Vault) ReadXattrs(fd int) ([]Xattr, error) {
	buf := make([]byte, xattrMax)
	n, err := retryEINTR(func() (int, error) { return unix.Flistxattr(fd, buf) })
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listxattr: %w", err)
	}
	names := bytes.Split(buf[:n], []byte{0})
	var out []Xattr
	val := make([]byte, xattrMax)
	for _, b := range names {
		backing := string(b)
		if len(b) == 0 || !bytes.HasPrefix(b, []byte(xattrPrefix)) {
			continue
		}
		x := Xattr{Backing: backing}
		x.Name, x.Err = v.DecryptXattrName(backing)
		if x.Err == nil {
			n, err := retryEINTR(func() (int, error) { return unix.Fgetxattr(fd, backing, val) })
			if errors.Is(err, unix.ENODATA) {
				continue // removed since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("getxattr %q: %w", x.Name, err)
			}
			x.Value, x.Err = v.DecryptXattrValue(val[:n])
			if x.Err != nil {
				x.Err = fmt.Errorf("%q: %w", x.Name, x.Err)
			}
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Xattr) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Backing, b.Backing))
	})
	return out, nil
}

// retryEINTR repeats a syscall that a signal interrupted.
func retryEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != unix.EINTR {
			return n, err
		}
	}
}
