//go:build amd64 && !purego

package fernet

// crypto/aes on amd64 has no CBC assembly: crypto/cipher makes one call
// per 16-byte block plus a generic XOR, and cannot overlap the independent
// blocks of a CBC decryption. These routines keep the round keys in
// registers, chain encryption tightly, and decrypt eight blocks at a time.

// cbcEncAES128 CBC-encrypts n blocks from src to dst with the AES-128
// encryption schedule xk and the 16-byte iv. dst and src may be equal.
//
//go:noescape
func cbcEncAES128(xk *[176]byte, iv *byte, dst, src *byte, n int)

// cbcEncAES128x8 CBC-encrypts n blocks in each of eight lanes with the
// AES-128 encryption schedule xk; lane k's src, dst and 16-byte IV are
// l.src[k], l.dst[k] and l.iv[k]. A lane's dst and src may be equal.
//
//go:noescape
func cbcEncAES128x8(xk *[176]byte, l *cbcLanePtrs, n int)

// cbcLanePtrs is the lanes of a cbcBatch as the assembly reads them.
type cbcLanePtrs struct {
	src, dst, iv [Batch]*byte
}

// cbcDecAES128 CBC-decrypts n blocks from src to dst with the AES-128
// equivalent-inverse schedule xk and the 16-byte iv. dst and src may be
// equal.
//
//go:noescape
func cbcDecAES128(xk *[176]byte, iv *byte, dst, src *byte, n int)

// expandAES128 fills s from the 16-byte AES key at key.
//
//go:noescape
func expandAES128(key *byte, s *aes128Schedule)

// prepare expands the AES-NI round keys when the key's codecs take that
// path.
func (k *Key) prepare(aesKey []byte) {
	if k.cpu.aesni {
		expandAES128(&aesKey[0], &k.sched)
	}
}

// cbcEncrypt CBC-encrypts src (a multiple of 16 bytes) into dst under iv.
func (c *Codec) cbcEncrypt(dst, src, iv []byte) {
	if !c.cpu.aesni {
		c.cbcEncryptStd(dst, src, iv)
		return
	}
	n := len(src) / BlockSize
	if n == 0 {
		return
	}
	_ = dst[n*BlockSize-1]
	_ = iv[BlockSize-1]
	cbcEncAES128(&c.key.sched.enc, &iv[0], &dst[0], &src[0], n)
}

// cbcEncryptBatch CBC-encrypts the lanes of l, interleaved on AES-NI.
func (c *Codec) cbcEncryptBatch(l *cbcBatch) {
	n := len(l.src[0]) / BlockSize
	if !c.cpu.aesni || n == 0 {
		c.cbcEncryptBatchStd(l)
		return
	}
	var p cbcLanePtrs
	for k := range Batch {
		if len(l.src[k]) != n*BlockSize || len(l.dst[k]) < n*BlockSize || len(l.iv[k]) < BlockSize {
			panic("fernet: CBC lanes of unequal length")
		}
		p.src[k], p.dst[k], p.iv[k] = &l.src[k][0], &l.dst[k][0], &l.iv[k][0]
	}
	cbcEncAES128x8(&c.key.sched.enc, &p, n)
}

// cbcDecrypt CBC-decrypts src (a multiple of 16 bytes) into dst under iv.
func (c *Codec) cbcDecrypt(dst, src, iv []byte) {
	if !c.cpu.aesni {
		c.cbcDecryptStd(dst, src, iv)
		return
	}
	n := len(src) / BlockSize
	if n == 0 {
		return
	}
	_ = dst[n*BlockSize-1]
	_ = iv[BlockSize-1]
	cbcDecAES128(&c.key.sched.dec, &iv[0], &dst[0], &src[0], n)
}
