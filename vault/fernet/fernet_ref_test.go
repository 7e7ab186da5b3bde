package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
)

// The Fernet spec written plainly with the standard library alone
// (crypto/aes, crypto/cipher, crypto/hmac, encoding/base64): the yardstick
// for every path of Seal and Open.

// refSealPadded is the token of an already padded plaintext (a non-empty
// multiple of 16 bytes), so that tests can make tokens with a valid MAC
// and any padding.
func refSealPadded(raw32, padded []byte, ts uint64, iv []byte) string {
	block, err := aes.NewCipher(raw32[16:])
	if err != nil {
		panic(err)
	}
	msg := []byte{0x80}
	msg = binary.BigEndian.AppendUint64(msg, ts)
	msg = append(msg, iv...)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	msg = append(msg, ct...)
	m := hmac.New(sha256.New, raw32[:16])
	m.Write(msg)
	return base64.URLEncoding.EncodeToString(m.Sum(msg))
}

// pkcs7 pads plain to a multiple of 16 bytes.
func pkcs7(plain []byte) []byte {
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	return append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
}

// refSeal is the Fernet token of plain.
func refSeal(raw32, plain []byte, ts uint64, iv []byte) string {
	return refSealPadded(raw32, pkcs7(plain), ts, iv)
}

// refForm is the part of refOpen that needs no key: the decoded token,
// if it is strict padded base64url without CR or LF, of a length and
// version byte that Fernet allows.
func refForm(token string) ([]byte, bool) {
	if bytes.ContainsAny([]byte(token), "\r\n") {
		return nil, false
	}
	raw, err := base64.URLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < 73 || (len(raw)-57)%16 != 0 || raw[0] != 0x80 {
		return nil, false
	}
	return raw, true
}

// refMAC reports whether raw, a token from refForm, ends in the HMAC of
// the rest under raw32's signing key.
func refMAC(raw32, raw []byte) bool {
	m := hmac.New(sha256.New, raw32[:16])
	m.Write(raw[:len(raw)-32])
	return hmac.Equal(m.Sum(nil), raw[len(raw)-32:])
}

// refOpen is Fernet verification and decryption as the spec and
// FORMAT.md put it: strict padded base64url without CR or LF, length,
// version, HMAC, then strict PKCS7.
func refOpen(raw32 []byte, token string) (plain []byte, ts uint64, ok bool) {
	raw, ok := refForm(token)
	if !ok || !refMAC(raw32, raw) {
		return nil, 0, false
	}
	body := raw[:len(raw)-32]
	block, err := aes.NewCipher(raw32[16:])
	if err != nil {
		panic(err)
	}
	ct := body[25:]
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, body[9:25]).CryptBlocks(pt, ct)
	p := int(pt[len(pt)-1])
	if p < 1 || p > 16 {
		return nil, 0, false
	}
	for _, b := range pt[len(pt)-p:] {
		if int(b) != p {
			return nil, 0, false
		}
	}
	return pt[:len(pt)-p], binary.BigEndian.Uint64(body[1:9]), true
}

func fillRand(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	fillRand(rng, b)
	return b
}
