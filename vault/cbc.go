package vault

import "crypto/cipher"

// aes128Schedule is an expanded AES-128 key laid out for AES-NI: the 11
// encryption round keys, and the 11 round keys of the equivalent inverse
// cipher (reversed, middle nine passed through InvMixColumns) that AESDEC
// needs. crypto/aes keeps its schedule private, so the CBC assembly cannot
// reuse it; expanding the key again costs well under a microsecond.
type aes128Schedule struct {
	enc [11 * 16]byte
	dec [11 * 16]byte
}

// expand fills s from a 16-byte AES key (FIPS-197 section 5.2 and 5.3.5).
func (s *aes128Schedule) expand(key []byte) {
	_ = key[15]
	copy(s.enc[:16], key)
	rcon := byte(1)
	for i := 16; i < len(s.enc); i += 4 {
		t0, t1, t2, t3 := s.enc[i-4], s.enc[i-3], s.enc[i-2], s.enc[i-1]
		if i%16 == 0 {
			t0, t1, t2, t3 = aesSbox(t1)^rcon, aesSbox(t2), aesSbox(t3), aesSbox(t0)
			rcon = gfMul(rcon, 2)
		}
		s.enc[i] = s.enc[i-16] ^ t0
		s.enc[i+1] = s.enc[i-15] ^ t1
		s.enc[i+2] = s.enc[i-14] ^ t2
		s.enc[i+3] = s.enc[i-13] ^ t3
	}
	copy(s.dec[:16], s.enc[160:])
	copy(s.dec[160:], s.enc[:16])
	for r := 1; r < 10; r++ {
		src := s.enc[(10-r)*16 : (11-r)*16]
		dst := s.dec[r*16 : (r+1)*16]
		for c := 0; c < 16; c += 4 {
			a0, a1, a2, a3 := src[c], src[c+1], src[c+2], src[c+3]
			dst[c] = gfMul(a0, 14) ^ gfMul(a1, 11) ^ gfMul(a2, 13) ^ gfMul(a3, 9)
			dst[c+1] = gfMul(a0, 9) ^ gfMul(a1, 14) ^ gfMul(a2, 11) ^ gfMul(a3, 13)
			dst[c+2] = gfMul(a0, 13) ^ gfMul(a1, 9) ^ gfMul(a2, 14) ^ gfMul(a3, 11)
			dst[c+3] = gfMul(a0, 11) ^ gfMul(a1, 13) ^ gfMul(a2, 9) ^ gfMul(a3, 14)
		}
	}
}

// gfMul multiplies in GF(2^8) modulo the AES polynomial x^8+x^4+x^3+x+1.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// aesSbox computes the AES S-box (multiplicative inverse, then the affine
// map) rather than storing a table: it only runs 40 times per key.
func aesSbox(x byte) byte {
	// x^254 is the inverse of x in GF(2^8), and maps 0 to 0.
	inv := byte(1)
	sq := x
	for e := 254; e != 0; e >>= 1 {
		if e&1 != 0 {
			inv = gfMul(inv, sq)
		}
		sq = gfMul(sq, sq)
	}
	rotl := func(v byte, n uint) byte { return v<<n | v>>(8-n) }
	return inv ^ rotl(inv, 1) ^ rotl(inv, 2) ^ rotl(inv, 3) ^ rotl(inv, 4) ^ 0x63
}

// cbcEncryptStd and cbcDecryptStd run CBC through crypto/cipher. They are
// the path on architectures without our assembly and on amd64 CPUs without
// AES-NI, reusing the Codec's BlockModes so they do not allocate.
func (c *Codec) cbcEncryptStd(dst, src, iv []byte) {
	m := setIV(c.enc, iv)
	if m == nil {
		m = cipher.NewCBCEncrypter(c.key.block, iv)
	}
	m.CryptBlocks(dst, src)
}

func (c *Codec) cbcDecryptStd(dst, src, iv []byte) {
	m := setIV(c.dec, iv)
	if m == nil {
		m = cipher.NewCBCDecrypter(c.key.block, iv)
	}
	m.CryptBlocks(dst, src)
}
