package fernet

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

// BlockSize is the AES block size: the IV length, and the unit of
// ciphertext and padding (Open writes up to BlockSize bytes of padding
// after the plaintext into dst's spare capacity).
const BlockSize = 16

const (
	version  = 0x80
	header   = 1 + 8 + BlockSize // version, timestamp, IV
	macLen   = sha256.Size
	overhead = header + macLen
)

// Key is an immutable Fernet key (signing half and encryption half). It
// is safe for concurrent use; per-goroutine state lives in a Codec.
type Key struct {
	sign  [16]byte
	block cipher.Block
	cpu   cpuFeatures    // the assembly paths its codecs take
	sched aes128Schedule // filled only for the AES-NI path
}

// NewKey makes a key from the 32 raw bytes of a Fernet key (signing key
// || encryption key), the form HKDF and PBKDF2 produce.
func NewKey(raw []byte) (*Key, error) {
	return newKey(raw, hostCPU())
}

// newKey is NewKey for the given CPU paths; tests and the known-answer
// check use it to make keys for paths other than the host's choice.
func newKey(raw []byte, cpu cpuFeatures) (*Key, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("fernet key must be 32 bytes, got %d", len(raw))
	}
	b, err := aes.NewCipher(raw[16:])
	if err != nil {
		return nil, err
	}
	k := &Key{block: b, cpu: cpu}
	copy(k.sign[:], raw[:16])
	k.prepare(raw[16:])
	return k, nil
}

// ParseKey decodes the base64url text form of a Fernet key, as other
// Fernet libraries print it.
func ParseKey(s string) (*Key, error) {
	raw, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("fernet key: %w", err)
	}
	return NewKey(raw)
}

// TokenLen is the length of the base64 token that Seal produces for a
// plaintext of n bytes. The content layout computes offsets from it.
func TokenLen(n int) int {
	return b64EncodedLen(rawTokenLen(n))
}

func rawTokenLen(n int) int {
	return overhead + (n/BlockSize+1)*BlockSize
}

// Codec holds the mutable state (scratch buffer, and the crypto/hmac and
// crypto/cipher objects) for sealing and opening tokens under one key
// without allocating. A Codec is not safe for concurrent use: give each
// goroutine its own.
type Codec struct {
	key *Key
	cpu cpuFeatures
	mac hash.Hash
	enc cipher.BlockMode
	dec cipher.BlockMode
	raw []byte
	sum [sha256.Size]byte
}

// NewCodec returns fresh per-goroutine state for k. It is cheap: the hash
// and cipher state is built on first use.
func (k *Key) NewCodec() *Codec {
	return &Codec{key: k, cpu: k.cpu}
}

// Key returns the key this codec seals and opens with.
func (c *Codec) Key() *Key { return c.key }

// UseBuffer lends the codec b as the scratch room for decoded tokens
// (3/4 of a token's length) until the next UseBuffer; nil takes it back.
// A caller with pooled memory lends it so that a codec kept in a pool
// holds no memory of its own while idle. The codec allocates its own
// room only if b is too small.
func (c *Codec) UseBuffer(b []byte) { c.raw = b }

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
	raw := c.scratch(rawTokenLen(len(plain)))
	if iv == nil {
		rand.Read(raw[9:header])
		iv = raw[9:header]
	}
	putHeader(raw, ts, iv)
	c.sealBody(raw, plain)
	return c.encode(dst, raw)
}

// Batch is how many plaintexts SealBatch seals together.
const Batch = 8

// SealBatch is Seal for Batch plaintexts at once: token k, of plain[k]
// with timestamp ts[k] and IV iv[k] (nil for a random one), is appended
// to dst[k]. When the plaintexts have one length, as a file's full chunks
// do, their CBC chains run interleaved: one chain leaves the AES unit
// idle for most of each round's latency, eight keep it busy.
func (c *Codec) SealBatch(dst, plain *[Batch][]byte, ts *[Batch]uint64, iv *[Batch][]byte) {
	n := len(plain[0])
	for k := 1; k < Batch; k++ {
		if len(plain[k]) != n {
			for k := range Batch {
				dst[k] = c.Seal(dst[k], plain[k], ts[k], iv[k])
			}
			return
		}
	}
	rl := rawTokenLen(n)
	all := c.scratch(Batch * rl)
	var random [Batch * BlockSize]byte
	rand.Read(random[:])
	full := n &^ (BlockSize - 1)
	var l cbcBatch
	for k := range Batch {
		raw := all[k*rl : (k+1)*rl]
		v := iv[k]
		if v == nil {
			v = random[k*BlockSize : (k+1)*BlockSize]
		}
		putHeader(raw, ts[k], v)
		l.src[k], l.dst[k], l.iv[k] = plain[k][:full], raw[header:header+full], raw[9:header]
	}
	c.cbcEncryptBatch(&l)
	for k := range Batch {
		raw := all[k*rl : (k+1)*rl]
		c.sealTail(raw, plain[k])
		dst[k] = c.encode(dst[k], raw)
	}
}

// putHeader writes the version, timestamp and IV of the token raw.
func putHeader(raw []byte, ts uint64, iv []byte) {
	raw[0] = version
	binary.BigEndian.PutUint64(raw[1:9], ts)
	copy(raw[9:header], iv)
}

// encode appends the base64url text of the token raw to dst.
func (c *Codec) encode(dst, raw []byte) []byte {
	tl := b64EncodedLen(len(raw))
	dst = grow(dst, tl)
	b64Encode(dst[len(dst)-tl:], raw, c.cpu.avx2)
	return dst
}

// Open verifies token and appends its plaintext to dst, returning the
// token's timestamp too. The MAC is checked in constant time before any
// decryption; every failure wraps ErrBadToken and leaves dst as it was.
func (c *Codec) Open(dst, token []byte) ([]byte, uint64, error) {
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
	ct := raw[header : n-macLen]
	// Decrypt straight into dst's spare room; on bad padding that room is
	// wiped so that a rejected token leaves no plaintext behind.
	start := len(dst)
	out := grow(dst, len(ct))
	pt := out[start:]
	c.cbcDecrypt(pt, ct, raw[9:header])
	pad := int(pt[len(pt)-1])
	var bad byte
	if pad < 1 || pad > BlockSize {
		bad = 1
		pad = BlockSize
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
