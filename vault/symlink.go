package vault

import (
	"fmt"
	"strings"
	"syscall"
)

// maxBackingTarget is the longest symlink target Linux stores (PATH_MAX
// less the NUL). A plaintext target is limited to what still fits once
// encrypted: 3007 bytes.
const maxBackingTarget = 4095

// EncryptSymlink gives the backing symlink target for target. Targets are
// encrypted in every vault, plaintext-name ones included, because they
// often reveal as much as the file they point to. The IV is random: unlike
// names, targets are never looked up, so equal targets need not match.
func (v *Vault) EncryptSymlink(target string) (string, error) {
	if target == "" {
		return "", fmt.Errorf("empty symlink target: %w", syscall.ENOENT)
	}
	if strings.IndexByte(target, 0) >= 0 {
		return "", fmt.Errorf("symlink target contains NUL: %w", ErrInvalidName)
	}
	if TokenLen(len(target)) > maxBackingTarget {
		return "", fmt.Errorf("symlink target of %d bytes: %w", len(target), ErrNameTooLong)
	}
	return string(v.keys.SymlinkKey().NewCodec().Seal(nil, []byte(target), 0, nil)), nil
}

// DecryptSymlink recovers a plaintext target from a backing symlink's
// target. Anything EncryptSymlink could not have written is an error
// wrapping ErrCorrupt, so a tampered link fails instead of pointing
// somewhere unexpected.
func (v *Vault) DecryptSymlink(token string) (string, error) {
	plain, ts, err := v.keys.SymlinkKey().NewCodec().Open(nil, []byte(token))
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: symlink target: %w", ErrCorrupt, err)
	case ts != 0:
		return "", fmt.Errorf("%w: symlink target: non-zero timestamp", ErrCorrupt)
	case len(plain) == 0 || strings.IndexByte(string(plain), 0) >= 0:
		return "", fmt.Errorf("%w: symlink target: empty or contains NUL", ErrCorrupt)
	}
	return string(plain), nil
}
