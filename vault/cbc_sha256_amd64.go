//go:build amd64 && !purego

package vault

// sha256BlocksSHANI compresses n 64-byte blocks at p into state (h0..h7).
//
//go:noescape
func sha256BlocksSHANI(state *[8]uint32, p *byte, n int)

// cbcEncSHA256 runs n iterations, each CBC-encrypting 64 bytes from src
// to dst (starting from the 16-byte chaining value at chain) and
// compressing the 64-byte block at msg into state. Every block it hashes
// must be complete before the iteration that reads it: msg must trail dst.
//
//go:noescape
func cbcEncSHA256(xk *[176]byte, chain *byte, dst, src *byte, state *[8]uint32, msg *byte, n int)

// b64DecSHA256 decodes 256*(n+1) base64url characters from src into dst
// while compressing the first 192*n decoded bytes into state, and reports
// whether any character was outside the alphabet. dst needs 192*(n+1)+4
// bytes (each 12-byte store writes 16).
//
//go:noescape
func b64DecSHA256(dst, src *byte, state *[8]uint32, n int) (bad bool)
