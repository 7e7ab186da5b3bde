package fernet

import "crypto/cipher"

// aes128Schedule is an expanded AES-128 key laid out for AES-NI: the 11
// encryption round keys, and the 11 round keys of the equivalent inverse
// cipher (reversed, middle nine passed through InvMixColumns) that AESDEC
// needs. crypto/aes keeps its schedule private, so the CBC assembly cannot
// reuse it and expands the key again with AESKEYGENASSIST and AESIMC.
// Only the AES-NI path fills and reads it.
type aes128Schedule struct {
	enc [11 * 16]byte
	dec [11 * 16]byte
}

type ivSetter interface{ SetIV([]byte) }

// setIV rekeys a crypto/cipher CBC mode with a new IV when it supports
// that, so the portable path need not allocate a mode per token.
func setIV(m cipher.BlockMode, iv []byte) cipher.BlockMode {
	if s, ok := m.(ivSetter); ok {
		s.SetIV(iv)
		return m
	}
	return nil
}

// cbcEncryptStd and cbcDecryptStd run CBC through crypto/cipher. They are
// the path on architectures without our assembly and wherever AES-NI is
// missing or switched off, reusing the Codec's BlockModes (made on first
// use, so codecs on the assembly path never build them) so they do not
// allocate.
func (c *Codec) cbcEncryptStd(dst, src, iv []byte) {
	if c.enc == nil {
		c.enc = cipher.NewCBCEncrypter(c.key.block, iv)
	}
	m := setIV(c.enc, iv)
	if m == nil {
		m = cipher.NewCBCEncrypter(c.key.block, iv)
	}
	m.CryptBlocks(dst, src)
}

// cbcBatch is Batch CBC encryptions of equal length: src[k] into dst[k]
// under iv[k].
type cbcBatch struct {
	src, dst, iv [Batch][]byte
}

// cbcEncryptBatchStd runs the encryptions of l one after the other.
func (c *Codec) cbcEncryptBatchStd(l *cbcBatch) {
	for k := range Batch {
		c.cbcEncrypt(l.dst[k], l.src[k], l.iv[k])
	}
}

func (c *Codec) cbcDecryptStd(dst, src, iv []byte) {
	if c.dec == nil {
		c.dec = cipher.NewCBCDecrypter(c.key.block, iv)
	}
	m := setIV(c.dec, iv)
	if m == nil {
		m = cipher.NewCBCDecrypter(c.key.block, iv)
	}
	m.CryptBlocks(dst, src)
}
