package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
)

// Vault is an unlocked vault: the backing directory, its header and the
// derived keys. Everything that reads or writes vault data (the mount,
// fsck, cat, decrypt) starts from one.
type Vault struct {
	dir    string
	header *Header
	keys   *Keys
	// bufs are the I/O buffers shared by all of the vault's Contents.
	bufs bufPools
	// nameCodecs and xattrCodecs pool name-token state (see
	// nameCodecPool).
	nameCodecs, xattrCodecs sync.Pool
	// shared is set by SetSharedStorage (see content_lock.go).
	shared bool
	// ivCache remembers directory IVs across a directory's closing and
	// opening again (diriv_cache.go); nil unless CacheDirIVs. Atomic:
	// a Dir of an earlier mount of the vault may close while the next
	// mount sets it.
	ivCache atomic.Pointer[dirIVCache]
	// journal is the mount's undo journal (journal.go), nil for the
	// offline commands and read-only or reverse mounts.
	journal   atomic.Pointer[Journal]
	journalMu sync.Mutex
}

// Credential unlocks a vault: a password, or instead a recovery key.
type Credential struct {
	Password    []byte
	RecoveryKey string
}

// CreateOptions are the choices fixed when a vault is made.
type CreateOptions struct {
	Iterations     int // 0 means DefaultIterations
	ChunkSize      int // 0 means DefaultChunkSize
	PlaintextNames bool
	// CreatedBy is recorded in the header's created_by member (e.g.
	// "fernetfs v1.2.0"); empty leaves the member out.
	CreatedBy string
}

// Create makes a new vault in dir, which must exist and be empty, and
// returns it unlocked with the recovery key text to show the user once.
func Create(dir string, password []byte, opts CreateOptions) (*Vault, string, error) {
	features := []string{FeatureEncryptedNames}
	if opts.PlaintextNames {
		features = []string{FeaturePlaintextNames}
	}
	h, master, keys, err := newHeader(password, opts, features)
	if err != nil {
		return nil, "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", err
	}
	if len(entries) > 0 {
		return nil, "", fmt.Errorf("%s is not empty", dir)
	}
	v := &Vault{dir: dir, header: h, keys: keys}
	if !opts.PlaintextNames {
		if err := CreateDirIV(dir); err != nil {
			return nil, "", err
		}
	}
	if err := writeFileAtomic(dir, HeaderName, h.marshal(), 0o400); err != nil {
		return nil, "", fmt.Errorf("writing header: %w", err)
	}
	return v, FormatRecoveryKey(master), nil
}

// newHeader checks opts (filling in defaults) and makes the header of a
// new vault with these features: a fresh master key wrapped under
// password.
func newHeader(password []byte, opts CreateOptions, features []string) (*Header, [32]byte, *Keys, error) {
	var master [32]byte
	if opts.Iterations == 0 {
		opts.Iterations = DefaultIterations
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Iterations < 1 || opts.Iterations > MaxIterations {
		return nil, master, nil, fmt.Errorf("iterations %d: must be from 1 to %d", opts.Iterations, MaxIterations)
	}
	if err := checkChunkSize(opts.ChunkSize); err != nil {
		return nil, master, nil, err
	}
	if len(password) == 0 {
		return nil, master, nil, errors.New("empty password")
	}
	if err := checkCreatedBy(opts.CreatedBy); err != nil {
		return nil, master, nil, err
	}
	rand.Read(master[:])
	keys := DeriveKeys(master)
	h := &Header{Format: FormatVersion, ChunkSize: opts.ChunkSize, Features: features, CreatedBy: opts.CreatedBy}
	h.wrap(master, password, opts.Iterations, keys)
	return h, master, keys, nil
}

// Unlock reads dir's header and unlocks it with cred.
func Unlock(dir string, cred Credential) (*Vault, error) {
	h, err := ReadHeader(dir)
	if err != nil {
		return nil, err
	}
	_, keys, err := h.unlock(cred, "vault "+dir, filepath.Join(dir, HeaderName))
	if err != nil {
		return nil, err
	}
	return &Vault{dir: dir, header: h, keys: keys}, nil
}

// unlock recovers the master key of header h with cred and checks the
// header MAC. what names the vault and path the header file in errors.
func (h *Header) unlock(cred Credential, what, path string) ([32]byte, *Keys, error) {
	var master [32]byte
	var err error
	if cred.RecoveryKey != "" {
		if master, err = ParseRecoveryKey(cred.RecoveryKey); err != nil {
			return master, nil, err
		}
	} else if master, err = h.unwrapPassword(cred.Password); errors.Is(err, ErrWrongPassword) {
		return master, nil, fmt.Errorf("%w for %s", err, what)
	} else if err != nil {
		return master, nil, fmt.Errorf("%s: %w", path, err)
	}
	keys := DeriveKeys(master)
	if !hmacEqual(h.computeMAC(keys), h.MAC) {
		if cred.RecoveryKey != "" {
			return master, nil, fmt.Errorf("%w: recovery key does not match %s (or its header was tampered with)", ErrWrongPassword, what)
		}
		return master, nil, fmt.Errorf("%s: %w", path, ErrHeaderTampered)
	}
	return master, keys, nil
}

// ChangePassword rewraps the master key under a new password and salt,
// keeping the previous header as fernetfs.json.bak. Both files are
// replaced atomically; content is untouched.
func (v *Vault) ChangePassword(newPassword []byte, iterations int) error {
	h, err := rewrapHeader(v.dir, HeaderName, HeaderBackupName, v.header, v.keys, newPassword, iterations)
	if err != nil {
		return err
	}
	v.header = h
	return nil
}

// rewrapHeader is ChangePassword for the header h kept in dir/name, with
// its previous version kept as dir/backup. It returns the new header.
func rewrapHeader(dir, name, backup string, h *Header, keys *Keys, newPassword []byte, iterations int) (*Header, error) {
	if len(newPassword) == 0 {
		return nil, errors.New("empty password")
	}
	if iterations == 0 {
		iterations = h.KDF.Iterations
	}
	old, err := readHeaderFile(dir, name)
	if err != nil {
		return nil, err
	}
	nh := *h
	nh.Features = slices.Clone(h.Features)
	nh.wrap(keys.master, newPassword, iterations, keys)
	if err := writeFileAtomic(dir, backup, old, 0o400); err != nil {
		return nil, fmt.Errorf("writing header backup: %w", err)
	}
	if err := writeFileAtomic(dir, name, nh.marshal(), 0o400); err != nil {
		return nil, fmt.Errorf("writing header: %w", err)
	}
	return &nh, nil
}

// Dir is the backing directory.
func (v *Vault) Dir() string { return v.dir }

// Header is the parsed header; callers must not modify it.
func (v *Vault) Header() *Header { return v.header }

// Keys is the derived key set.
func (v *Vault) Keys() *Keys { return v.keys }

// ChunkSize is the plaintext bytes per content token.
func (v *Vault) ChunkSize() int { return v.header.ChunkSize }

// PlaintextNames reports whether names are stored unencrypted.
func (v *Vault) PlaintextNames() bool { return v.header.HasFeature(FeaturePlaintextNames) }

// RecoveryKey returns the recovery key text for this vault's master key.
func (v *Vault) RecoveryKey() string { return FormatRecoveryKey(v.keys.master) }

// IsVault reports whether dir looks like a vault (has a header file).
func IsVault(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, HeaderName))
	return !errors.Is(err, fs.ErrNotExist)
}
