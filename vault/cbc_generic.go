//go:build !amd64 || purego

package vault

// haveAESNI is false where vault has no CBC assembly; crypto/aes still
// uses the platform's own AES instructions underneath crypto/cipher.
const haveAESNI = false

// cbcEncrypt CBC-encrypts src (a multiple of 16 bytes) into dst under iv.
func (c *Codec) cbcEncrypt(dst, src, iv []byte) { c.cbcEncryptStd(dst, src, iv) }

// cbcDecrypt CBC-decrypts src (a multiple of 16 bytes) into dst under iv.
func (c *Codec) cbcDecrypt(dst, src, iv []byte) { c.cbcDecryptStd(dst, src, iv) }
