//go:build !amd64 || purego

package fernet

// b64EncodeBulk has no SIMD form here; the scalar encoder does all of it.
func b64EncodeBulk(dst, src []byte) int { return 0 }

// b64DecodeBulk has no SIMD form here; the scalar decoder does all of it.
func b64DecodeBulk(dst, src []byte) int { return 0 }
