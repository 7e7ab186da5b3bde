package vault

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// Mlock keeps the memory pages that hold the vault's long-lived keys
// (the master key and the name, xattr, symlink, name-IV and header-MAC
// keys) in RAM, so they are never written to swap. Go's heap does not
// move objects, so the pages stay the keys' for as long as the Vault
// lives. It is best effort: RLIMIT_MEMLOCK may refuse (the error says
// so) and the caller goes on without. Per-file content keys and the
// expanded AES schedules inside crypto/aes are not covered.
func (v *Vault) Mlock() error { return v.keys.mlock() }

// Mlock is Vault.Mlock for a reverse vault: its forward keys and the
// HMAC keys of its derivations.
func (r *Reverse) Mlock() error {
	errs := []error{r.fwd.Mlock()}
	for _, b := range [][]byte{r.dirIV, r.fileID, r.chunkIV, r.symlinkIV, r.inode} {
		if err := unix.Mlock(b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (k *Keys) mlock() error {
	var errs []error
	lock := func(p unsafe.Pointer, n uintptr) {
		if err := unix.Mlock(unsafe.Slice((*byte)(p), n)); err != nil {
			errs = append(errs, err)
		}
	}
	lock(unsafe.Pointer(k), unsafe.Sizeof(*k))
	for _, fk := range []*fernet.Key{k.name, k.xattr, k.symlink} {
		lock(unsafe.Pointer(fk), unsafe.Sizeof(*fk))
	}
	for _, b := range [][]byte{k.nameIV, k.headerMAC} {
		lock(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
	}
	return errors.Join(errs...)
}
