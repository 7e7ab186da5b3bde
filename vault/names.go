package vault

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// Name limits and reserved prefixes of the backing directory layout.
const (
	// MaxNameLen is the longest plaintext name, Linux's NAME_MAX, so every
	// name a program can create on ext4 can be created in a vault.
	MaxNameLen = 255
	// maxBackingNameLen is NAME_MAX of the backing filesystem: a token
	// longer than this is stored as a long name.
	maxBackingNameLen = 255
	// LongNamePrefix starts the backing name of a name whose token does not
	// fit in NAME_MAX; the rest is base64url-nopad(sha256(token)).
	LongNamePrefix = "fernetfs.longname."
	// longNameSuffix ends the sidecar file holding a long name's token.
	longNameSuffix = ".name"
	// longNameHashLen is len(base64url-nopad(sha256)).
	longNameHashLen = 43
	// reservedPrefix and reservedTmpPrefix start every file fernetfs keeps
	// for itself (header, diriv, long-name sidecars, temp files).
	reservedPrefix    = "fernetfs."
	reservedTmpPrefix = ".fernetfs."
	// maxSidecarLen bounds what is read from a sidecar; the longest valid
	// one, fernet.TokenLen(MaxNameLen), is 420 bytes.
	maxSidecarLen = 1024
)

// errnoError is a sentinel that also unwraps to the errno the kernel
// would give for the same mistake, so the FUSE layer can return it as is
// and callers can still test for the sentinel.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }
func (e *errnoError) Unwrap() error { return e.errno }

// Name errors that callers tell apart: each unwraps to the errno the FUSE
// layer should return (EINVAL, ENAMETOOLONG, EPERM).
var (
	// ErrInvalidName: "", ".", "..", or a name containing '/' or NUL;
	// no directory entry can have it.
	ErrInvalidName error = &errnoError{"invalid file name", syscall.EINVAL}
	// ErrNameTooLong: a plaintext name over MaxNameLen bytes, or a symlink
	// target whose token would not fit in the backing filesystem.
	ErrNameTooLong error = &errnoError{"file name too long", syscall.ENAMETOOLONG}
	// ErrReservedName: the name starts with "fernetfs." or ".fernetfs.",
	// which the backing directory keeps for vault metadata; allowing it
	// would let a plaintext-name vault overwrite its own header or hide
	// the file from listings.
	ErrReservedName error = &errnoError{"name reserved for fernetfs metadata", syscall.EPERM}
)

// CheckPlainName reports why name cannot be a directory entry of the
// plaintext view in any vault: empty, "." or "..", too long, or containing
// '/' or NUL. Plaintext-name vaults also refuse reserved names (see
// checkReserved); encrypted-name vaults store every name as a token, so
// there a file may be called "fernetfs.json" like on any other disk.
func CheckPlainName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("name %q: %w", name, ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("name of %d bytes: %w", len(name), ErrNameTooLong)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name %q: %w", name, ErrInvalidName)
	}
	return nil
}

// checkReserved refuses, in a plaintext-name vault, names the backing
// directory keeps for vault metadata: storing one would overwrite the
// header or hide the file from listings.
func checkReserved(name string) error {
	if IsReservedName(name) {
		return fmt.Errorf("name %q: %w", name, ErrReservedName)
	}
	return nil
}

// IsReservedName reports whether a backing directory entry is vault
// metadata (header, diriv, temp file, long-name file) rather than a
// plaintext entry, so listings never show it as such. Long names are
// reserved too: List decodes them through their sidecar instead.
func IsReservedName(backingName string) bool {
	return strings.HasPrefix(backingName, reservedPrefix) ||
		strings.HasPrefix(backingName, reservedTmpPrefix)
}

// LongNameSidecar names the file beside a long name that holds its full
// token, which the backing name itself (a hash) cannot give back.
func LongNameSidecar(backing string) string { return backing + longNameSuffix }

// isLongName reports whether backing is the hashed form of a long name
// (and not, for example, its sidecar).
func isLongName(backing string) bool {
	return len(backing) == len(LongNamePrefix)+longNameHashLen &&
		strings.HasPrefix(backing, LongNamePrefix)
}

// longNameFor is the backing name of a token too long for NAME_MAX.
func longNameFor(token []byte) string {
	sum := sha256.Sum256(token)
	return LongNamePrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// nameCodec seals and opens name tokens (fernet.NameSealer: the IV is an
// HMAC of a context, directory IV or "xattr", and the name) and holds a
// buffer for a name's bytes, so that translating a whole listing
// allocates nothing per name; it is not safe for concurrent use.
type nameCodec struct {
	s  *fernet.NameSealer
	in []byte
}

func (v *Vault) newNameCodec(k *fernet.Key) *nameCodec {
	return &nameCodec{s: fernet.NewNameSealer(k, v.keys.NameIVKey())}
}

// nameCodecPool is the vault's pool of nameCodecs for k (the name key or
// the xattr key), or nil for any other key. Every lookup, create and
// listing translates names, so building hash and cipher state afresh for
// each would dominate their cost.
func (v *Vault) nameCodecPool(k *fernet.Key) *sync.Pool {
	switch k {
	case v.keys.NameKey():
		return &v.nameCodecs
	case v.keys.XattrKey():
		return &v.xattrCodecs
	}
	return nil
}

// getNameCodec returns a nameCodec for k, to give back with putNameCodec.
// The strings its methods return never alias its state, so they outlive
// the put; the bytes seal returns do, until its next call.
func (v *Vault) getNameCodec(k *fernet.Key) *nameCodec {
	if p := v.nameCodecPool(k); p != nil {
		if n, ok := p.Get().(*nameCodec); ok {
			return n
		}
	}
	return v.newNameCodec(k)
}

func (v *Vault) putNameCodec(n *nameCodec) {
	if p := v.nameCodecPool(n.s.Key()); p != nil {
		p.Put(n)
	}
}

// seal returns the token of name in context, in the codec's own buffer:
// it is valid until the next call.
func (n *nameCodec) seal(context, name []byte) []byte { return n.s.Seal(context, name) }

// sealString is seal of a name given as a string.
func (n *nameCodec) sealString(context []byte, name string) []byte {
	n.in = append(n.in[:0], name...)
	return n.seal(context, n.in)
}

// open returns the name in token if token is its canonical token in
// context (see fernet.NameSealer.Open).
func (n *nameCodec) open(context []byte, token []byte) (string, error) {
	plain, err := n.s.Open(context, token)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// encryptName maps a checked plaintext name to its backing name, and the
// long token to store in the sidecar when the backing name is a hash.
func (n *nameCodec) encryptName(dirIV []byte, plain string) (string, string) {
	tok := n.sealString(dirIV, plain)
	if len(tok) <= maxBackingNameLen {
		return string(tok), ""
	}
	return longNameFor(tok), string(tok)
}

func corruptName(backing string, reason error) error {
	return fmt.Errorf("%w: backing name %q: %w", ErrCorrupt, backing, reason)
}

func (n *nameCodec) decryptName(dirIV []byte, backing string, readSidecar func(string) ([]byte, error)) (string, error) {
	var tok []byte
	long := strings.HasPrefix(backing, LongNamePrefix)
	if long {
		if !isLongName(backing) {
			return "", corruptName(backing, fmt.Errorf("malformed long name"))
		}
		if readSidecar == nil {
			return "", corruptName(backing, fmt.Errorf("long name without a sidecar reader"))
		}
		side, err := readSidecar(LongNameSidecar(backing))
		if err != nil {
			// %v, not %w: a missing sidecar is corruption, not ENOENT.
			return "", corruptName(backing, fmt.Errorf("long-name sidecar: %v", err))
		}
		if longNameFor(side) != backing {
			return "", corruptName(backing, fmt.Errorf("long-name sidecar does not match its hash"))
		}
		tok = side
	} else {
		n.in = append(n.in[:0], backing...)
		tok = n.in
	}
	name, err := n.open(dirIV, tok)
	if err != nil {
		return "", corruptName(backing, err)
	}
	if err := CheckPlainName(name); err != nil {
		return "", corruptName(backing, fmt.Errorf("decrypts to an impossible name: %v", err))
	}
	// A short token stored as a long name (or the reverse) is another
	// spelling of the same name: only the form encryptName picks is valid.
	// (open already proved tok is the name's token in this directory.)
	if long != (len(tok) > maxBackingNameLen) {
		return "", corruptName(backing, fmt.Errorf("name stored in the wrong (long/short) form"))
	}
	return name, nil
}

// EncryptName gives the backing name of plain in the directory whose IV
// is dirIV. It is deterministic so that lookups translate a name without
// listing the directory. longToken is non-empty iff the name is long: the
// caller must store it in LongNameSidecar(backing) (Dir.PrepareName does).
// In plaintext-name vaults the name is returned as is (after checks).
func (v *Vault) EncryptName(dirIV []byte, plain string) (backing, longToken string, err error) {
	if err := CheckPlainName(plain); err != nil {
		return "", "", err
	}
	if v.PlaintextNames() {
		if err := checkReserved(plain); err != nil {
			return "", "", err
		}
		return plain, "", nil
	}
	if len(dirIV) != DirIVLen {
		return "", "", fmt.Errorf("directory IV of %d bytes, want %d", len(dirIV), DirIVLen)
	}
	nc := v.getNameCodec(v.keys.NameKey())
	backing, longToken = nc.encryptName(dirIV, plain)
	v.putNameCodec(nc)
	return backing, longToken, nil
}

// DecryptName turns a backing directory entry back into its plaintext
// name. It accepts only the exact backing name EncryptName would produce
// for the result in this directory, so corrupted, foreign or aliased
// entries are errors (wrapping ErrCorrupt) instead of ghost files.
// readSidecar reads a file beside backing; it is called only for long
// names, with LongNameSidecar(backing).
func (v *Vault) DecryptName(dirIV []byte, backing string, readSidecar func(sidecar string) ([]byte, error)) (string, error) {
	if v.PlaintextNames() {
		if err := CheckPlainName(backing); err != nil {
			return "", err
		}
		if err := checkReserved(backing); err != nil {
			return "", err
		}
		return backing, nil
	}
	if len(dirIV) != DirIVLen {
		return "", fmt.Errorf("directory IV of %d bytes, want %d", len(dirIV), DirIVLen)
	}
	nc := v.getNameCodec(v.keys.NameKey())
	defer v.putNameCodec(nc)
	return nc.decryptName(dirIV, backing, readSidecar)
}
