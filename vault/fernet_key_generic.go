//go:build !amd64 || purego

package vault

// prepare has nothing to precompute where vault has no assembly.
func (k *FernetKey) prepare(raw []byte) {}

// hkdf32Fast reports false: hkdf32 derives keys where vault has no
// assembly.
func hkdf32Fast(out *[32]byte, secret, salt []byte, label string) bool { return false }
