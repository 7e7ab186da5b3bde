package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fernetfs/fernetfs/vault/fernet"
	"golang.org/x/sys/unix"
)

// File names of the vault header and its backup in BACKING.
const (
	HeaderName       = "fernetfs.json"
	HeaderBackupName = "fernetfs.json.bak"
)

// FormatVersion is the only vault format this build reads and writes.
const FormatVersion = 1

// Feature flags recorded in the header. A reader refuses a vault that
// names a flag it does not know.
const (
	FeatureEncryptedNames = "encrypted-names"
	FeaturePlaintextNames = "plaintext-names"
	// FeatureReverse marks the header of a reverse vault (see
	// reverse.go); only UnlockReverse accepts it.
	FeatureReverse = "reverse"
)

var knownFeatures = []string{FeatureEncryptedNames, FeaturePlaintextNames, FeatureReverse}

// KDFName is the only key derivation function the header may name.
const KDFName = "pbkdf2-sha256"

// Parameter limits. DefaultIterations follows OWASP's 2023 advice for
// PBKDF2-HMAC-SHA256; MaxIterations bounds the work a hostile header can
// make an unlock do.
const (
	DefaultIterations = 600_000
	MaxIterations     = 100_000_000
	DefaultChunkSize  = 4096
	MinChunkSize      = 64
	MaxChunkSize      = 1 << 20
	saltLen           = 32
)

// KDF is the password-hashing part of the header.
type KDF struct {
	Name       string      `json:"name"`
	Iterations int         `json:"iterations"`
	Salt       base64Bytes `json:"salt"`
}

// Header is the parsed content of fernetfs.json.
type Header struct {
	Format     int      `json:"format"`
	Features   []string `json:"features"`
	KDF        KDF      `json:"kdf"`
	ChunkSize  int      `json:"chunk_size"`
	WrappedKey string   `json:"wrapped_master_key"`
	// CreatedBy names the program that created the vault, for bug
	// reports ("" in vaults made before it was recorded).
	CreatedBy string      `json:"created_by,omitempty"`
	MAC       base64Bytes `json:"mac"`
}

// MaxCreatedByLen bounds the header's created_by member.
const MaxCreatedByLen = 128

// HasFeature reports whether the header carries flag f.
func (h *Header) HasFeature(f string) bool { return slices.Contains(h.Features, f) }

// macInput is the exact byte string the header MAC covers (FORMAT.md
// "Header MAC"): one "key=value" line per field in a fixed order.
func (h *Header) macInput() []byte {
	var b strings.Builder
	b.WriteString("fernetfs header mac v1\n")
	fmt.Fprintf(&b, "format=%d\n", h.Format)
	fmt.Fprintf(&b, "features=%s\n", strings.Join(h.Features, ","))
	fmt.Fprintf(&b, "kdf=%s\n", h.KDF.Name)
	fmt.Fprintf(&b, "iterations=%d\n", h.KDF.Iterations)
	fmt.Fprintf(&b, "salt=%s\n", base64.StdEncoding.EncodeToString(h.KDF.Salt))
	fmt.Fprintf(&b, "chunk_size=%d\n", h.ChunkSize)
	fmt.Fprintf(&b, "wrapped_master_key=%s\n", h.WrappedKey)
	if h.CreatedBy != "" {
		fmt.Fprintf(&b, "created_by=%s\n", h.CreatedBy)
	}
	return []byte(b.String())
}

func (h *Header) computeMAC(k *Keys) []byte {
	m := hmac.New(sha256.New, k.headerMAC)
	m.Write(h.macInput())
	return m.Sum(nil)
}

// validate checks everything that can be checked before unlocking.
func (h *Header) validate() error {
	if h.Format != FormatVersion {
		return fmt.Errorf("%w: format version %d (this fernetfs reads %d)", ErrUnsupported, h.Format, FormatVersion)
	}
	for _, f := range h.Features {
		if !slices.Contains(knownFeatures, f) {
			return fmt.Errorf("%w: unknown feature flag %q", ErrUnsupported, f)
		}
	}
	if h.HasFeature(FeatureEncryptedNames) == h.HasFeature(FeaturePlaintextNames) {
		return fmt.Errorf("%w: exactly one of %q and %q must be set", ErrMalformedHeader, FeatureEncryptedNames, FeaturePlaintextNames)
	}
	if !slices.IsSorted(h.Features) || len(slices.Compact(slices.Clone(h.Features))) != len(h.Features) {
		return fmt.Errorf("%w: feature flags must be sorted and unique", ErrMalformedHeader)
	}
	if h.KDF.Name != KDFName {
		return fmt.Errorf("%w: unknown kdf %q", ErrUnsupported, h.KDF.Name)
	}
	if h.KDF.Iterations < 1 || h.KDF.Iterations > MaxIterations {
		return fmt.Errorf("%w: iterations %d out of range", ErrMalformedHeader, h.KDF.Iterations)
	}
	if len(h.KDF.Salt) != saltLen {
		return fmt.Errorf("%w: salt must be %d bytes", ErrMalformedHeader, saltLen)
	}
	if err := checkChunkSize(h.ChunkSize); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	if len(h.WrappedKey) != fernet.TokenLen(32) {
		return fmt.Errorf("%w: wrapped master key has the wrong length", ErrMalformedHeader)
	}
	// Checked here, not left to the unwrapping: a value that is not a
	// Fernet token is a damaged header under any password, and must not
	// send the user hunting for the right one.
	if err := fernet.CheckForm([]byte(h.WrappedKey)); err != nil {
		return fmt.Errorf("%w: wrapped master key: %v", ErrMalformedHeader, err)
	}
	if err := checkCreatedBy(h.CreatedBy); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	if len(h.MAC) != sha256.Size {
		return fmt.Errorf("%w: mac must be %d bytes", ErrMalformedHeader, sha256.Size)
	}
	return nil
}

// checkCreatedBy accepts what FORMAT.md allows in created_by: printable
// ASCII only, so the MAC input stays one line per member and info prints
// no control characters from a hostile header.
func checkCreatedBy(s string) error {
	if len(s) > MaxCreatedByLen {
		return fmt.Errorf("created_by longer than %d bytes", MaxCreatedByLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("created_by contains a byte outside printable ASCII")
		}
	}
	return nil
}

func checkChunkSize(n int) error {
	if n < MinChunkSize || n > MaxChunkSize || n%aesBlock != 0 {
		return fmt.Errorf("chunk size %d: must be a multiple of 16 from %d to %d", n, MinChunkSize, MaxChunkSize)
	}
	return nil
}

// ParseHeader decodes and validates fernetfs.json bytes without unlocking.
// A reverse vault's header is refused: its plaintext lives elsewhere.
func ParseHeader(data []byte) (*Header, error) {
	h, err := parseHeaderJSON(data)
	if err != nil {
		return nil, err
	}
	if h.HasFeature(FeatureReverse) {
		return nil, fmt.Errorf("%w: this is the header of a reverse vault (mount its folder with --reverse)", ErrUnsupported)
	}
	return h, nil
}

// parseHeaderJSON is ParseHeader for both kinds of header. It is exactly
// as strict as FORMAT.md: the members and only those, each once and
// spelled exactly, of the right types, base64 in canonical form, and
// nothing but white space after the object.
func parseHeaderJSON(data []byte) (*Header, error) {
	if len(data) > MaxHeaderLen {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedHeader, MaxHeaderLen)
	}
	if err := checkHeaderJSON(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedHeader, err)
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// ReadHeader reads and validates BACKING/fernetfs.json.
func ReadHeader(dir string) (*Header, error) {
	data, err := readHeaderFile(dir, HeaderName)
	if errors.Is(err, ErrNotVault) && IsReverse(dir) {
		return nil, fmt.Errorf("%w: %s has no %s (it is the plain folder of a reverse vault: use --reverse)", ErrNotVault, dir, HeaderName)
	}
	if err != nil {
		return nil, err
	}
	h, err := ParseHeader(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, HeaderName), err)
	}
	return h, nil
}

// readHeaderFile reads dir/name (the header or its backup) as an
// untrusted file: not through a symlink, without blocking on a FIFO, only
// if it is a regular file, and at most MaxHeaderLen bytes of it. Anything
// else there is a malformed header, so a planted FIFO, a link to
// /dev/zero or a huge file fails at once instead of hanging or filling
// memory.
func readHeaderFile(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	data, err := readSmallFileAt(unix.AT_FDCWD, path, MaxHeaderLen)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotVault, dir, name)
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s: %w: a symbolic link, not a regular file", path, ErrMalformedHeader)
	case errors.Is(err, ErrNotRegular):
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrMalformedHeader)
	case errors.Is(err, errTooLong):
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrMalformedHeader, MaxHeaderLen)
	}
	return nil, fmt.Errorf("reading %s: %w", path, err)
}

func (h *Header) marshal() []byte {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// kek derives the key-encryption key from a password.
func (h *Header) kek(password []byte) *fernet.Key {
	k, err := pbkdf2.Key(sha256.New, string(password), h.KDF.Salt, h.KDF.Iterations, 32)
	if err != nil {
		panic(err)
	}
	return mustFernetKey(k)
}

// wrap stores master under a new salt and password, and re-MACs.
func (h *Header) wrap(master [32]byte, password []byte, iterations int, keys *Keys) {
	h.KDF = KDF{Name: KDFName, Iterations: iterations, Salt: make([]byte, saltLen)}
	rand.Read(h.KDF.Salt)
	h.WrappedKey = string(h.kek(password).NewCodec().Seal(nil, master[:], uint64(time.Now().Unix()), nil))
	h.MAC = h.computeMAC(keys)
}

// unwrapPassword recovers the master key from a password.
func (h *Header) unwrapPassword(password []byte) ([32]byte, error) {
	var master [32]byte
	pt, _, err := h.kek(password).NewCodec().Open(nil, []byte(h.WrappedKey))
	if errors.Is(err, fernet.ErrMACMismatch) {
		// FORMAT.md: a wrong password shows as a failed MAC, and only so.
		return master, ErrWrongPassword
	}
	if err != nil {
		// The MAC matched, so the password is right and the token bad
		// (its padding): only a writer holding the password made it.
		return master, fmt.Errorf("%w: wrapped master key: %v", ErrMalformedHeader, err)
	}
	if len(pt) != 32 {
		return master, fmt.Errorf("%w: wrapped master key is %d bytes", ErrMalformedHeader, len(pt))
	}
	copy(master[:], pt)
	return master, nil
}

// writeFileAtomic replaces dir/name with data: temp file, fsync, rename,
// fsync of the directory, so a crash leaves the old or the new file whole.
func writeFileAtomic(dir, name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
