package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// HKDF info labels. Each derived key has its own label so that no key is
// ever used for two purposes; FORMAT.md lists them byte for byte.
const (
	labelContent   = "fernetfs v1 content key"
	labelName      = "fernetfs v1 name key"
	labelNameIV    = "fernetfs v1 name iv key"
	labelXattr     = "fernetfs v1 xattr key"
	labelSymlink   = "fernetfs v1 symlink key"
	labelHeaderMAC = "fernetfs v1 header mac key"
)

// Keys holds every key derived from one vault's master key. It is
// immutable after DeriveKeys and safe to share between goroutines.
type Keys struct {
	master    [32]byte
	name      *fernet.Key
	nameIV    []byte
	xattr     *fernet.Key
	symlink   *fernet.Key
	headerMAC []byte
}

func hkdf32(master []byte, salt []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, master, salt, label, 32)
	if err != nil {
		panic(err) // only on impossible lengths
	}
	return k
}

func mustFernetKey(raw []byte) *fernet.Key {
	k, err := fernet.NewKey(raw)
	if err != nil {
		panic(err)
	}
	return k
}

// DeriveKeys expands a 32-byte master key into the vault's key set.
func DeriveKeys(master [32]byte) *Keys {
	m := master[:]
	return &Keys{
		master:    master,
		name:      mustFernetKey(hkdf32(m, nil, labelName)),
		nameIV:    hkdf32(m, nil, labelNameIV),
		xattr:     mustFernetKey(hkdf32(m, nil, labelXattr)),
		symlink:   mustFernetKey(hkdf32(m, nil, labelSymlink)),
		headerMAC: hkdf32(m, nil, labelHeaderMAC),
	}
}

// ContentKey is the Fernet key for the file with this 16-byte ID; the ID
// is the HKDF salt, so a chunk moved to another file fails its MAC.
func (k *Keys) ContentKey(fileID []byte) *fernet.Key {
	return mustFernetKey(hkdf32(k.master[:], fileID, labelContent))
}

// NameKey encrypts file and directory names.
func (k *Keys) NameKey() *fernet.Key { return k.name }

// NameIVKey is the HMAC key that derives deterministic name IVs.
func (k *Keys) NameIVKey() []byte { return k.nameIV }

// XattrKey encrypts extended attribute names and values.
func (k *Keys) XattrKey() *fernet.Key { return k.xattr }

// SymlinkKey encrypts symlink targets.
func (k *Keys) SymlinkKey() *fernet.Key { return k.symlink }

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
