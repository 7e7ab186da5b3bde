//go:build !amd64 || purego

package vault

// sealBody fills raw with the ciphertext of plain and its MAC.
func (c *Codec) sealBody(raw, plain []byte) { c.sealBodyStd(raw, plain) }

// decodeVerify decodes and checks token; see decodeVerifyStd.
func (c *Codec) decodeVerify(raw, token []byte) (int, error) { return c.decodeVerifyStd(raw, token) }

// decodeVerifyPair is decodeVerify of two tokens; only SHA-NI hashes
// them together.
func (c *Codec) decodeVerifyPair(rawA, rawB, tokA, tokB []byte) (na, nb int, errA, errB error) {
	na, errA = c.decodeVerify(rawA, tokA)
	nb, errB = c.decodeVerify(rawB, tokB)
	return na, nb, errA, errB
}

// macVerify checks mac against the HMAC of body in constant time.
func (c *Codec) macVerify(body, mac []byte) bool { return c.macVerifyStd(body, mac) }
