//go:build !amd64 || purego

package fernet

// cbcEncrypt CBC-encrypts src (a multiple of 16 bytes) into dst under iv.
func (c *Codec) cbcEncrypt(dst, src, iv []byte) { c.cbcEncryptStd(dst, src, iv) }

// cbcEncryptBatch CBC-encrypts the lanes of l.
func (c *Codec) cbcEncryptBatch(l *cbcBatch) { c.cbcEncryptBatchStd(l) }

// cbcDecrypt CBC-decrypts src (a multiple of 16 bytes) into dst under iv.
func (c *Codec) cbcDecrypt(dst, src, iv []byte) { c.cbcDecryptStd(dst, src, iv) }

// prepare has nothing to precompute where this package has no assembly.
func (k *Key) prepare(aesKey []byte) {}
