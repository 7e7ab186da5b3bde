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
