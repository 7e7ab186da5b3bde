//go:build !linux

package vault

// dirStamp: elsewhere than on Linux only the offline commands run, and
// they do not cache directory IVs.
func dirStamp(fd int) (k dirIVKey, e dirIVEntry, ok bool) { return k, e, false }
