package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// ErrBadToken is returned for any token that is not a valid Fernet token
// under the given key: bad base64, wrong length, wrong version, failed MAC,
// or bad padding. Callers test for it to tell corruption from I/O errors.
var ErrBadToken = errors.New("invalid fernet token")

const (
	fernetVersion  = 0x80
	fernetHeader   = 1 + 8 + 16 // version, timestamp, IV
	fernetMACLen   = 32
	fernetOverhead = fernetHeader + fernetMACLen
	aesBlock       = 16
)

// FernetKey is an immutable Fernet key (signing half and encryption half).
// It is safe for concurrent use; per-goroutine state lives in a Codec.
type FernetKey struct {
	sign  [16]byte
	block cipher.Block
	sched aes128Schedule
}

// NewFernetKey makes a key from the 32 raw bytes of a Fernet key
// (signing key ‖ encryption key), the form HKDF and PBKDF2 produce.
func NewFernetKey(raw []byte) (*FernetKey, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("fernet key must be 32 bytes, got %d", len(raw))
	}
	b, err := aes.NewCipher(raw[16:])
	if err != nil {
		return nil, err
	}
	k := &FernetKey{block: b}
	copy(k.sign[:], raw[:16])
	k.prepare(raw[16:])
	return k, nil
}

// ParseFernetKey decodes the base64url text form of a Fernet key, as other
// Fernet libraries print it.
func ParseFernetKey(s string) (*FernetKey, error) {
	raw, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("fernet key: %w", err)
	}
	return NewFernetKey(raw)
}

// TokenLen is the length of the base64 token that Seal produces for a
// plaintext of n bytes. The content layout computes offsets from it.
func TokenLen(n int) int {
	return b64EncodedLen(rawTokenLen(n))
}

func rawTokenLen(n int) int {
	return fernetOverhead + (n/aesBlock+1)*aesBlock
}

// Codec holds the mutable state (scratch buffer, and the crypto/hmac and
// crypto/cipher objects) for sealing and opening tokens under one key
// without allocating. A Codec is not safe for
// concurrent use: give each goroutine its own.
type Codec struct {
	key *FernetKey
	cpu cpuFeatures
	mac hash.Hash
	enc cipher.BlockMode
	dec cipher.BlockMode
	raw []byte
	sum [sha256.Size]byte
}

// NewCodec returns fresh per-goroutine state for k. It is cheap: the hash
// and cipher state is built on first use.
func (k *FernetKey) NewCodec() *Codec {
	return &Codec{key: k, cpu: hostCPU}
}

// Key returns the key this codec seals and opens with.
func (c *Codec) Key() *FernetKey { return c.key }

func (c *Codec) scratch(n int) []byte {
	if cap(c.raw) < n {
		c.raw = make([]byte, n)
	}
	return c.raw[:n]
}

// Seal appends to dst the Fernet token of plain with timestamp ts. iv is
// the 16-byte CBC IV; nil draws one from crypto/rand (deterministic IVs
// are only for names, where equal names must give equal tokens).
func (c *Codec) Seal(dst, plain []byte, ts uint64, iv []byte) []byte {
	n := rawTokenLen(len(plain))
	raw := c.scratch(n)
	raw[0] = fernetVersion
	binary.BigEndian.PutUint64(raw[1:9], ts)
	if iv == nil {
		rand.Read(raw[9:25])
	} else {
		copy(raw[9:25], iv)
	}
	c.sealBody(raw, plain)
	tl := b64EncodedLen(n)
	dst = grow(dst, tl)
	b64Encode(dst[len(dst)-tl:], raw, c.cpu.avx2)
	return dst
}

// Open verifies token and appends its plaintext to dst, returning the
// token's timestamp too. The MAC is checked in constant time before any
// decryption; every failure wraps ErrBadToken.
func (c *Codec) Open(dst, token []byte) ([]byte, uint64, error) {
	if len(token)%4 != 0 || len(token) < TokenLen(0) {
		return dst, 0, fmt.Errorf("%w: bad length %d", ErrBadToken, len(token))
	}
	raw := c.scratch(len(token) / 4 * 3)
	n, err := c.decodeVerify(raw, token)
	if err != nil {
		return dst, 0, err
	}
	return c.decrypt(dst, raw[:n])
}

// decrypt appends the plaintext of raw, a decoded token whose length,
// version and MAC are verified, to dst and returns it with the token's
// timestamp.
func (c *Codec) decrypt(dst, raw []byte) ([]byte, uint64, error) {
	n := len(raw)
	ts := binary.BigEndian.Uint64(raw[1:9])
	ct := raw[fernetHeader : n-fernetMACLen]
	// Decrypt straight into dst's spare room; on bad padding that room is
	// wiped so that a rejected token leaves no plaintext behind.
	start := len(dst)
	out := grow(dst, len(ct))
	pt := out[start:]
	c.cbcDecrypt(pt, ct, raw[9:25])
	pad := int(pt[len(pt)-1])
	var bad byte
	if pad < 1 || pad > aesBlock {
		bad = 1
		pad = aesBlock
	}
	for _, b := range pt[len(pt)-pad:] {
		bad |= b ^ byte(pad)
	}
	if bad != 0 {
		clear(pt)
		return dst, 0, fmt.Errorf("%w: bad padding", ErrBadToken)
	}
	return out[:len(out)-pad], ts, nil
}

// grow extends b by n bytes, reallocating only when capacity runs out.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
