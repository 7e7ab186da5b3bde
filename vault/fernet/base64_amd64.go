//go:build amd64 && !purego

package fernet

// b64EncAVX2 encodes whole 24-byte groups of src while 28 bytes are
// readable and returns how many source bytes it consumed.
//
//go:noescape
func b64EncAVX2(dst, src *byte, n int) int

// b64DecAVX2 decodes whole 32-character groups of src while 32 bytes of
// dst remain and returns how many characters it consumed, or -1 if one of
// them is not in the base64url alphabet.
//
//go:noescape
func b64DecAVX2(dst *byte, dlen int, src *byte, slen int) int

// b64EncodeBulk encodes a prefix of src with AVX2 and returns its length
// (a multiple of 3); the caller encodes the rest. Callers check the CPU.
func b64EncodeBulk(dst, src []byte) int {
	if len(src) < 28 {
		return 0
	}
	_ = dst[b64EncodedLen(len(src))-1]
	return b64EncAVX2(&dst[0], &src[0], len(src))
}

// b64DecodeBulk decodes a prefix of src (unpadded, len%4 == 0) with AVX2
// and returns its length, or -1 for a character outside the alphabet; the
// caller decodes the rest. Callers check the CPU.
func b64DecodeBulk(dst, src []byte) int {
	if len(src) < 32 || len(dst) < 32 {
		return 0
	}
	return b64DecAVX2(&dst[0], len(dst), &src[0], len(src))
}
