package vault

import (
	"fmt"
	"strings"
	"syscall"
)

// xattrPrefix is the only namespace stored: user.* attributes are what
// programs set, and the backing filesystem lets an unprivileged owner
// write them.
const xattrPrefix = "user."

// xattrContext separates xattr-name IVs from file-name IVs (which start
// with a 16-byte directory IV), so no name IV is derived twice.
var xattrContext = []byte("xattr")

// Xattr errors, each unwrapping to the errno setxattr/getxattr give.
var (
	// ErrXattrNameTooLong: the encrypted name would exceed the 255 bytes
	// the backing filesystem allows (plaintext names over 127 bytes).
	ErrXattrNameTooLong error = &errnoError{"xattr name too long", syscall.ERANGE}
	// ErrXattrNamespace: only user.* attributes are encrypted and stored;
	// other namespaces (security.*, trusted.*, system.*) carry kernel
	// semantics that an encrypted copy would silently break.
	ErrXattrNamespace error = &errnoError{"xattr namespace not supported", syscall.EOPNOTSUPP}
)

// EncryptXattrName gives the backing name of a user.* attribute:
// "user." + a deterministic token of the whole plaintext name, so getxattr
// of a known name needs no listing.
func (v *Vault) EncryptXattrName(name string) (string, error) {
	if !strings.HasPrefix(name, xattrPrefix) {
		return "", fmt.Errorf("xattr %q: %w", name, ErrXattrNamespace)
	}
	if name == xattrPrefix || strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("xattr %q: %w", name, ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("xattr name of %d bytes: %w", len(name), ErrXattrNameTooLong)
	}
	nc := v.getNameCodec(v.keys.XattrKey())
	b := xattrPrefix + string(nc.sealString(xattrContext, name))
	v.putNameCodec(nc)
	if len(b) > maxBackingNameLen {
		return "", fmt.Errorf("xattr name of %d bytes: %w", len(name), ErrXattrNameTooLong)
	}
	return b, nil
}

// DecryptXattrName recovers a plaintext attribute name. Backing
// attributes outside user.* (for example an SELinux label the backing
// filesystem added) give ErrXattrNamespace so listxattr can skip them;
// a user.* attribute that is not a canonical token is ErrCorrupt.
func (v *Vault) DecryptXattrName(backing string) (string, error) {
	if !strings.HasPrefix(backing, xattrPrefix) {
		return "", fmt.Errorf("backing xattr %q: %w", backing, ErrXattrNamespace)
	}
	nc := v.getNameCodec(v.keys.XattrKey())
	name, err := nc.open(xattrContext, []byte(backing[len(xattrPrefix):]))
	v.putNameCodec(nc)
	if err != nil {
		return "", fmt.Errorf("%w: backing xattr %q: %w", ErrCorrupt, backing, err)
	}
	if !strings.HasPrefix(name, xattrPrefix) || name == xattrPrefix || strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: backing xattr %q: decrypts to an impossible name", ErrCorrupt, backing)
	}
	return name, nil
}

// EncryptXattrValue seals an attribute value with a random IV: values are
// never looked up, so equal values need not give equal tokens.
func (v *Vault) EncryptXattrValue(val []byte) []byte {
	return v.keys.XattrKey().NewCodec().Seal(nil, val, 0, nil)
}

// DecryptXattrValue opens a backing attribute value; failures wrap
// ErrCorrupt so getxattr reports EIO rather than garbage.
func (v *Vault) DecryptXattrValue(tok []byte) ([]byte, error) {
	plain, ts, err := v.keys.XattrKey().NewCodec().Open(nil, tok)
	if err != nil {
		return nil, fmt.Errorf("%w: xattr value: %w", ErrCorrupt, err)
	}
	if ts != 0 {
		return nil, fmt.Errorf("%w: xattr value: non-zero timestamp", ErrCorrupt)
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, nil
}
