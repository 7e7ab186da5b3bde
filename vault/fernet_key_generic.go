//go:build !amd64 || purego

package vault

// prepare has nothing to precompute where vault has no assembly.
func (k *FernetKey) prepare(raw []byte) {}
