package fernet

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
)

// encryptLast CBC-encrypts the final, PKCS7-padded block of plain into the
// last block of ct; chain is the previous ciphertext block (or the IV).
func (c *Codec) encryptLast(ct, plain, chain []byte) {
	full := len(plain) &^ (BlockSize - 1)
	last := ct[len(ct)-BlockSize:]
	n := copy(last, plain[full:])
	pad := byte(BlockSize - n)
	for i := n; i < BlockSize; i++ {
		last[i] = pad
	}
	c.cbcEncrypt(last, last, chain)
}

// sealBody fills raw (a token with its header written) with the
// ciphertext of plain and the MAC.
func (c *Codec) sealBody(raw, plain []byte) {
	// Whole blocks go straight from plain; only the padded one is copied.
	full := len(plain) &^ (BlockSize - 1)
	c.cbcEncrypt(raw[header:header+full], plain[:full], raw[9:header])
	c.sealTail(raw, plain)
}

// sealTail finishes raw, whose whole blocks of plain are encrypted: the
// padded last block, then the MAC.
func (c *Codec) sealTail(raw, plain []byte) {
	n := len(raw)
	ct := raw[header : n-macLen]
	full := len(plain) &^ (BlockSize - 1)
	chain := raw[9:header]
	if full > 0 {
		chain = ct[full-BlockSize : full]
	}
	c.encryptLast(ct, plain, chain)
	mac := c.hmac()
	mac.Reset()
	mac.Write(raw[:n-macLen])
	mac.Sum(raw[n-macLen : n-macLen])
}

// decodeVerify decodes token into raw and checks, in this order, its
// base64, length, version byte (decodeForm) and MAC; it returns the
// decoded length.
func (c *Codec) decodeVerify(raw, token []byte) (int, error) {
	n, err := decodeForm(raw, token, c.cpu.avx2)
	if err != nil {
		return 0, err
	}
	if !c.macVerify(raw[:n-macLen], raw[n-macLen:n]) {
		return 0, ErrMACMismatch
	}
	return n, nil
}

// decodeForm decodes token into raw (3/4 of its length) and checks what
// needs no key: its base64, decoded length and version byte. Unlike
// encoding/base64, b64Decode rejects CR and LF along with every other
// character outside the alphabet.
func decodeForm(raw, token []byte, simd bool) (int, error) {
	if len(token)%4 != 0 || len(token) < TokenLen(0) {
		return 0, fmt.Errorf("%w: bad length %d", ErrBadToken, len(token))
	}
	n, ok := b64Decode(raw, token, simd)
	if !ok {
		return 0, errMalformedBase64
	}
	if err := checkRaw(raw[:n]); err != nil {
		return 0, err
	}
	return n, nil
}

// CheckForm reports whether token has the form of a Fernet token, which
// takes no key to see: canonical base64url whose decoded length and
// version byte Open accepts. Open checks the same before the MAC. A
// caller that must tell a malformed token from one sealed under another
// key (a malformed vault header from a wrong password) checks this
// first; every failure wraps ErrBadToken.
func CheckForm(token []byte) error {
	_, err := decodeForm(make([]byte, len(token)/4*3), token, hostCPU().avx2)
	return err
}

var (
	errMalformedBase64 = fmt.Errorf("%w: malformed base64", ErrBadToken)
	// ErrMACMismatch is Open's error for a well-formed token (see
	// CheckForm) whose MAC does not match: a token sealed under another
	// key, or altered. It wraps ErrBadToken.
	ErrMACMismatch = fmt.Errorf("%w: MAC mismatch", ErrBadToken)
)

// checkRaw validates a decoded token's length and version byte.
func checkRaw(raw []byte) error {
	n := len(raw)
	if n < rawTokenLen(0) || (n-overhead)%BlockSize != 0 {
		return fmt.Errorf("%w: bad payload length", ErrBadToken)
	}
	if raw[0] != version {
		return fmt.Errorf("%w: bad version byte %#x", ErrBadToken, raw[0])
	}
	return nil
}

// macVerify checks mac against the HMAC of body in constant time.
func (c *Codec) macVerify(body, mac []byte) bool {
	h := c.hmac()
	h.Reset()
	h.Write(body)
	sum := h.Sum(c.sum[:0])
	return subtle.ConstantTimeCompare(sum, mac) == 1
}

// hmac is the codec's HMAC-SHA256 state under the signing key, made on
// first use: the mount makes a codec per open file, and some only seal
// or only open a few names.
func (c *Codec) hmac() hash.Hash {
	if c.mac == nil {
		c.mac = hmac.New(sha256.New, c.key.sign[:])
	}
	return c.mac
}
