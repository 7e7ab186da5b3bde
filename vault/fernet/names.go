package fernet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
)

// errNotCanonical rejects a name token that opens but is not what sealing
// its plaintext in the same context gives.
var errNotCanonical = fmt.Errorf("%w: not the canonical token of its name here (wrong context, IV, timestamp or encoding)", ErrBadToken)

// NameSealer seals and opens name tokens: timestamp 0 and the IV
// HMAC-SHA256(ivKey, context || name)[:16], so that the same name in the
// same context (a directory IV, or "xattr") always has the same token and
// a lookup needs no directory scan. One NameSealer serves many names (a
// whole listing) without allocating per-name hash state or buffers; it is
// not safe for concurrent use.
type NameSealer struct {
	c       *Codec
	mac     hash.Hash
	sum     [sha256.Size]byte
	out, pt []byte
}

// NewNameSealer returns a NameSealer for tokens under k with IVs derived
// under the HMAC key ivKey.
func NewNameSealer(k *Key, ivKey []byte) *NameSealer {
	return &NameSealer{c: k.NewCodec(), mac: hmac.New(sha256.New, ivKey)}
}

// Key returns the key the sealer's tokens are under.
func (n *NameSealer) Key() *Key { return n.c.Key() }

// iv is HMAC-SHA256(ivKey, context || name)[:16].
func (n *NameSealer) iv(context, name []byte) []byte {
	n.mac.Reset()
	n.mac.Write(context)
	n.mac.Write(name)
	return n.mac.Sum(n.sum[:0])[:BlockSize]
}

// Seal returns the token of name in context, in the sealer's own buffer:
// it is valid until the next call of Seal or Open.
func (n *NameSealer) Seal(context, name []byte) []byte {
	n.out = n.c.Seal(n.out[:0], name, 0, n.iv(context, name))
	return n.out
}

// Open returns the name in token and accepts it only if sealing the
// result again in the same context gives the very same bytes. That single
// comparison rejects a foreign or random IV, a non-zero timestamp and any
// other base64 spelling, so two tokens never alias one name. The name is
// in the sealer's own buffer, valid until the next call of Seal or Open.
// Every failure wraps ErrBadToken.
func (n *NameSealer) Open(context, token []byte) ([]byte, error) {
	plain, _, err := n.c.Open(n.pt[:0], token)
	if err != nil {
		return nil, err
	}
	n.pt = plain
	if !bytes.Equal(n.Seal(context, plain), token) {
		return nil, errNotCanonical
	}
	return plain, nil
}
