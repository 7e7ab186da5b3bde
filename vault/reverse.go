package vault

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// ReverseHeaderName is the header of a reverse vault, kept in the
// plaintext folder itself. Its leading dot keeps it out of ordinary
// listings; the reverse view hides it and shows a forward header as
// fernetfs.json instead (see Reverse.ForwardHeader).
const ReverseHeaderName = ".fernetfs.reverse.json"

// ReverseHeaderBackupName keeps the previous reverse header after a
// password change, as fernetfs.json.bak does in a vault.
const ReverseHeaderBackupName = ReverseHeaderName + ".bak"

// HKDF labels of the keys that derive, in a reverse vault, what a forward
// vault draws at random (FORMAT.md "Reverse vaults").
const (
	labelRevDirIV   = "fernetfs v1 reverse diriv key"
	labelRevFileID  = "fernetfs v1 reverse file id key"
	labelRevChunkIV = "fernetfs v1 reverse chunk iv key"
	labelRevSymlink = "fernetfs v1 reverse symlink iv key"
	labelRevInode   = "fernetfs v1 reverse inode key"
)

// Reverse is an unlocked reverse vault: a plaintext folder whose
// encrypted view is computed on demand, deterministically, in exactly the
// layout of a forward vault. The view is read-only; a copy of it is an
// ordinary vault (its header carries no reverse flag).
type Reverse struct {
	dir    string
	header *Header // the reverse header
	// fwd is the forward vault the view is a copy of (no backing
	// directory: only its header and keys are used).
	fwd       *Vault
	fwdHeader []byte
	// HMAC keys of the derivations.
	dirIV, fileID, chunkIV, symlinkIV, inode []byte
	lay                                      layout
	// sealers pools the per-read state of ReverseContent.ReadAt.
	sealers sync.Pool
}

// CreateReverse writes a new reverse vault header into the existing
// plaintext folder dir and returns the recovery key text to show once.
// It is the only write fernetfs ever makes to dir. Reverse vaults always
// encrypt names: plaintext names would collide with the format's
// reserved names.
func CreateReverse(dir string, password []byte, opts CreateOptions) (string, error) {
	if opts.PlaintextNames {
		return "", errors.New("reverse vaults always encrypt names (--plaintext-names is not supported)")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	if IsReverse(dir) {
		return "", fmt.Errorf("%s already has a reverse vault header (%s)", dir, ReverseHeaderName)
	}
	h, master, _, err := newHeader(password, opts, []string{FeatureEncryptedNames, FeatureReverse})
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(dir, ReverseHeaderName, h.marshal(), 0o400); err != nil {
		return "", fmt.Errorf("writing header: %w", err)
	}
	return FormatRecoveryKey(master), nil
}

// IsReverse reports whether dir has a reverse vault header.
func IsReverse(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, ReverseHeaderName))
	return !errors.Is(err, fs.ErrNotExist)
}

// ReadReverseHeader reads and validates dir's reverse header.
func ReadReverseHeader(dir string) (*Header, error) {
	path := filepath.Join(dir, ReverseHeaderName)
	data, err := readHeaderFile(dir, ReverseHeaderName)
	if errors.Is(err, ErrNotVault) {
		return nil, fmt.Errorf("%w: %s has no %s (create one with 'fernetfs init --reverse')", ErrNotVault, dir, ReverseHeaderName)
	}
	if err != nil {
		return nil, err
	}
	h, err := parseHeaderJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !h.HasFeature(FeatureReverse) || !h.HasFeature(FeatureEncryptedNames) {
		return nil, fmt.Errorf("%s: %w: a reverse header must carry the %q and %q flags", path, ErrMalformedHeader, FeatureReverse, FeatureEncryptedNames)
	}
	return h, nil
}

// UnlockReverse reads dir's reverse header and unlocks it with cred.
func UnlockReverse(dir string, cred Credential) (*Reverse, error) {
	h, err := ReadReverseHeader(dir)
	if err != nil {
		return nil, err
	}
	master, keys, err := h.unlock(cred, "reverse vault "+dir, filepath.Join(dir, ReverseHeaderName))
	if err != nil {
		return nil, err
	}
	return newReverse(dir, h, master, keys), nil
}

// newReverse derives the view's forward header and keys from an
// unlocked reverse header.
func newReverse(dir string, h *Header, master [32]byte, keys *Keys) *Reverse {
	m := master[:]
	r := &Reverse{
		dir:       dir,
		dirIV:     hkdf32(m, nil, labelRevDirIV),
		fileID:    hkdf32(m, nil, labelRevFileID),
		chunkIV:   hkdf32(m, nil, labelRevChunkIV),
		symlinkIV: hkdf32(m, nil, labelRevSymlink),
		inode:     hkdf32(m, nil, labelRevInode),
		lay:       newLayout(h.ChunkSize),
	}
	r.setHeader(h, keys)
	return r
}

// setHeader makes h the reverse header, and the view's header the same
// header without the reverse flag, MACed again: a copy of the view is
// then a forward vault that any reader opens with the same password, and
// writes to it draw random IVs as usual.
func (r *Reverse) setHeader(h *Header, keys *Keys) {
	fh := *h
	fh.Features = slices.DeleteFunc(slices.Clone(h.Features), func(f string) bool { return f == FeatureReverse })
	fh.MAC = fh.computeMAC(keys)
	r.header = h
	r.fwd = &Vault{header: &fh, keys: keys}
	r.fwdHeader = fh.marshal()
}

// ChangePassword rewraps the master key under a new password, keeping
// the previous reverse header as ReverseHeaderBackupName (both hidden
// from the view). The view's fernetfs.json follows at the next mount;
// nothing else in the view changes.
func (r *Reverse) ChangePassword(newPassword []byte, iterations int) error {
	h, err := rewrapHeader(r.dir, ReverseHeaderName, ReverseHeaderBackupName, r.header, r.fwd.keys, newPassword, iterations)
	if err != nil {
		return err
	}
	r.setHeader(h, r.fwd.keys)
	return nil
}

// Dir is the plaintext folder.
func (r *Reverse) Dir() string { return r.dir }

// ChunkSize is the plaintext bytes per content token.
func (r *Reverse) ChunkSize() int { return int(r.lay.chunk) }

// RecoveryKey returns the recovery key text of the vault's master key
// (the mount daemon receives the key this way).
func (r *Reverse) RecoveryKey() string { return r.fwd.RecoveryKey() }

// ForwardHeader is the content of the view's fernetfs.json.
func (r *Reverse) ForwardHeader() []byte { return r.fwdHeader }

// derive is HMAC(key, msg)[:16].
func derive(key []byte, msg ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, b := range msg {
		m.Write(b)
	}
	return m.Sum(nil)[:16]
}

// checkRelPath panics on a path that is not in the form the derivations
// are defined on: "" for the root, else names joined by "/" without a
// leading or trailing slash. A malformed path would silently give a
// different, still valid, vault.
func checkRelPath(rel string) {
	if rel != "" && (strings.HasPrefix(rel, "/") || strings.HasSuffix(rel, "/") || strings.Contains(rel, "//")) {
		panic(fmt.Sprintf("vault: reverse path %q is not relative and clean", rel))
	}
}

// DirIV is the directory IV of the directory at rel ("" is the root).
func (r *Reverse) DirIV(rel string) []byte {
	checkRelPath(rel)
	return derive(r.dirIV, []byte(rel))
}

// FileID is the file ID of the regular file at rel.
func (r *Reverse) FileID(rel string) []byte {
	checkRelPath(rel)
	return derive(r.fileID, []byte(rel))
}

// Inode is a stable inode number for a view entry: kind tells apart the
// entries that stand for the same plaintext path rel (the entry itself,
// by its type, and the files the view adds for it: a directory's diriv,
// an entry's long-name sidecar). It is keyed, because backup tools store
// inode numbers in the backup. It is never 0 or 1 (the FUSE root).
func (r *Reverse) Inode(kind byte, rel string) uint64 {
	ino := binary.BigEndian.Uint64(derive(r.inode, []byte{kind}, []byte(rel)))
	if ino <= 1 {
		ino += 2
	}
	return ino
}

// EncryptName is Vault.EncryptName in the forward vault of the view.
func (r *Reverse) EncryptName(dirIV []byte, plain string) (backing, longToken string, err error) {
	return r.fwd.EncryptName(dirIV, plain)
}

// DecryptName is Vault.DecryptName in the forward vault of the view.
func (r *Reverse) DecryptName(dirIV []byte, backing string) (string, error) {
	return r.fwd.DecryptName(dirIV, backing, nil)
}

// EncryptSymlink is the backing target of the symlink at rel whose
// plaintext target is target: the forward token, with
// iv = HMAC(symlink IV key, rel || NUL || target)[:16]. The view has no
// long links (their sidecars live in the vault's root, which would need
// a scan of the whole folder to list), so a target whose token does not
// fit a symlink (over 3007 bytes) is ErrNameTooLong.
func (r *Reverse) EncryptSymlink(rel, target string) (string, error) {
	checkRelPath(rel)
	if err := checkSymlinkTarget(target); err != nil {
		return "", err
	}
	if fernet.TokenLen(len(target)) > maxBackingTarget {
		return "", fmt.Errorf("symlink target of %d bytes (a long link, which reverse views do not show): %w", len(target), ErrNameTooLong)
	}
	iv := derive(r.symlinkIV, []byte(rel), []byte{0}, []byte(target))
	return string(r.fwd.keys.SymlinkKey().NewCodec().Seal(nil, []byte(target), 0, iv)), nil
}

// ReverseSymlinkLen is the length of the view's symlink target for a
// plaintext target of n bytes, which is all stat needs; ok is false when
// the view cannot show the link (a long link, see EncryptSymlink).
func ReverseSymlinkLen(n int) (size int, ok bool) {
	size = fernet.TokenLen(n)
	return size, size <= maxBackingTarget
}

// HasLongName reports whether the plaintext name plain is stored as a
// long name (a hash with a sidecar) in encrypted-name vaults.
func HasLongName(plain string) bool { return fernet.TokenLen(len(plain)) > maxBackingNameLen }
