package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// Symlink limits and the long-link form (FORMAT.md "Symlinks").
const (
	// MaxSymlinkTarget is the longest target Linux stores (PATH_MAX less
	// the NUL), so every symlink ext4 takes can be made in a vault.
	MaxSymlinkTarget = 4095
	// maxBackingTarget is the longest backing symlink target: a token
	// longer than this (a plaintext target over 3007 bytes) is stored
	// as a long link.
	maxBackingTarget = 4095
	// LongLinkPrefix starts a long link's backing target and the name of
	// its sidecar in BACKING's root; the rest is
	// base64url-nopad(sha256(token)). '.' is outside the token alphabet,
	// so a reader that does not know long links fails on it instead of
	// misreading it.
	LongLinkPrefix = "fernetfs.longlink."
)

// maxLongLinkLen bounds what is read from a long link's sidecar: the token
// of the longest target.
var maxLongLinkLen = fernet.TokenLen(MaxSymlinkTarget)

// IsLongLink reports whether a backing symlink's target is the long-link
// form (a reference to a sidecar) rather than a token.
func IsLongLink(link string) bool {
	return len(link) == len(LongLinkPrefix)+longNameHashLen && strings.HasPrefix(link, LongLinkPrefix)
}

// longLinkFor is the backing target (and sidecar name) of a long token.
func longLinkFor(token []byte) string {
	sum := sha256.Sum256(token)
	return LongLinkPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// EncryptSymlink gives the token of target. Targets are encrypted in every
// vault, plaintext-name ones included, because they often reveal as much
// as the file they point to. The IV is random: unlike names, targets are
// never looked up, so equal targets need not match. A token over 4095
// bytes does not fit a backing symlink: Symlinkat stores it as a long link.
func (v *Vault) EncryptSymlink(target string) (string, error) {
	if err := checkSymlinkTarget(target); err != nil {
		return "", err
	}
	return string(v.keys.SymlinkKey().NewCodec().Seal(nil, []byte(target), 0, nil)), nil
}

// checkSymlinkTarget refuses targets no symlink can have.
func checkSymlinkTarget(target string) error {
	if target == "" {
		return fmt.Errorf("empty symlink target: %w", syscall.ENOENT)
	}
	if strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("symlink target contains NUL: %w", ErrInvalidName)
	}
	if len(target) > MaxSymlinkTarget {
		return fmt.Errorf("symlink target of %d bytes: %w", len(target), ErrNameTooLong)
	}
	return nil
}

// Symlinkat creates the backing symlink name in the directory dirfd for
// the plaintext target. A token too long for a symlink goes first, synced,
// into its sidecar in BACKING's root, so the link never exists without it;
// a failure removes the sidecar again.
func (v *Vault) Symlinkat(target string, dirfd int, name string) error {
	tok, err := v.EncryptSymlink(target)
	if err != nil {
		return err
	}
	if len(tok) <= maxBackingTarget {
		return unix.Symlinkat(tok, dirfd, name)
	}
	link := longLinkFor([]byte(tok))
	root, err := openatRetry(unix.AT_FDCWD, v.dir, dirOpenFlags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if err := writeSyncedFileAt(root, link, []byte(tok), 0o400); err != nil {
		return fmt.Errorf("long symlink sidecar %s: %w", link, err)
	}
	if err := unix.Symlinkat(link, dirfd, name); err != nil {
		unix.Unlinkat(root, link, 0)
		return err
	}
	return nil
}

// writeSyncedFileAt creates name with data and syncs it before returning.
func writeSyncedFileAt(dfd int, name string, data []byte, perm uint32) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := reservedTmpPrefix + "tmp-" + hex.EncodeToString(rnd[:])
	if err := writeNewFileAt(dfd, tmp, data, perm); err != nil {
		return err
	}
	fd, err := openatRetry(dfd, tmp, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Fsync(fd)
		unix.Close(fd)
	}
	if err == nil {
		err = renameatNoReplace(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
	}
	return err
}

// ForgetSymlink removes the sidecar of a long link once the symlink's
// last link is gone; for a short link it does nothing.
func (v *Vault) ForgetSymlink(link string) error {
	if !IsLongLink(link) {
		return nil
	}
	p := filepath.Join(v.dir, link)
	if err := unix.Unlink(p); err != nil && err != unix.ENOENT {
		return fmt.Errorf("removing long symlink sidecar %s: %w", p, err)
	}
	return nil
}

// DecryptSymlink recovers a plaintext target from a backing symlink's
// target: a token, or a long link whose sidecar in BACKING's root holds
// it. Anything Symlinkat could not have written is an error wrapping
// ErrCorrupt, so a tampered link fails instead of pointing somewhere
// unexpected.
func (v *Vault) DecryptSymlink(link string) (string, error) {
	tok := []byte(link)
	long := strings.HasPrefix(link, LongLinkPrefix)
	if long {
		var err error
		if tok, err = v.readLongLink(link); err != nil {
			return "", fmt.Errorf("%w: symlink target: %w", ErrCorrupt, err)
		}
	}
	plain, ts, err := v.keys.SymlinkKey().NewCodec().Open(nil, tok)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: symlink target: %w", ErrCorrupt, err)
	case ts != 0:
		return "", fmt.Errorf("%w: symlink target: non-zero timestamp", ErrCorrupt)
	case len(plain) == 0 || strings.IndexByte(string(plain), 0) >= 0:
		return "", fmt.Errorf("%w: symlink target: empty or contains NUL", ErrCorrupt)
	case long != (len(tok) > maxBackingTarget):
		// One target, one spelling: only the form Symlinkat picks.
		return "", fmt.Errorf("%w: symlink target stored in the wrong (long/short) form", ErrCorrupt)
	}
	return string(plain), nil
}

// readLongLink reads and checks the token a long link refers to. The
// sidecar is opened without following symlinks or blocking on a FIFO,
// and read only up to the longest valid token.
func (v *Vault) readLongLink(link string) ([]byte, error) {
	if !IsLongLink(link) {
		return nil, errors.New("malformed long link")
	}
	root, err := openatRetry(unix.AT_FDCWD, v.dir, dirOpenFlags, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	tok, err := readSmallFileAt(root, link, maxLongLinkLen)
	if err != nil {
		// %v, not %w: a missing sidecar is corruption, not ENOENT.
		return nil, fmt.Errorf("long link sidecar %s: %v", link, err)
	}
	if longLinkFor(tok) != link {
		return nil, fmt.Errorf("long link sidecar %s does not match its hash", link)
	}
	return tok, nil
}
