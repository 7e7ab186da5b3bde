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

// hkdf32 is HKDF-SHA256 (RFC 5869) of master with salt and info label,
// 32 bytes long.
func hkdf32(master []byte, salt []byte, label string) []byte {
	k := hkdfSHA256(master, salt, label)
	return k[:]
}

// hkdfSHA256 is hkdf32 without allocating: every open of a file derives
// its content key, and crypto/hkdf's general form (hmac.New twice, each
// with two hash states) made 18 allocations a key. For one 32-byte block
// HKDF is two HMACs, and HMAC with a key and a message this short is two
// sha256.Sum256 calls over stack buffers. Keys or messages too long for
// those buffers fall back to crypto/hkdf (a label is a constant, a salt a
// file ID, so they never do).
func hkdfSHA256(master, salt []byte, label string) [32]byte {
	var info [hmacMaxMsg]byte
	if len(salt) > sha256.BlockSize || len(master) > hmacMaxMsg || len(label)+1 > hmacMaxMsg {
		k, err := hkdf.Key(sha256.New, master, salt, label, 32)
		if err != nil {
			panic(err) // only on impossible lengths
		}
		return [32]byte(k)
	}
	prk := hmacSHA256(salt, master) // extract
	n := copy(info[:], label)
	info[n] = 1 // expand: T(1) = HMAC(PRK, info || 0x01)
	return hmacSHA256(prk[:], info[:n+1])
}

// hmacMaxMsg is the longest message hmacSHA256 takes.
const hmacMaxMsg = 64

// hmacSHA256 is HMAC-SHA256 (RFC 2104) for a key of at most one block
// and a message of at most hmacMaxMsg bytes, with nothing on the heap.
func hmacSHA256(key, msg []byte) [32]byte {
	var buf [sha256.BlockSize + hmacMaxMsg]byte
	var pad [sha256.BlockSize]byte
	copy(pad[:], key) // a key shorter than a block is padded with zeros
	for i, b := range pad {
		buf[i] = b ^ 0x36
	}
	n := copy(buf[sha256.BlockSize:], msg)
	inner := sha256.Sum256(buf[:sha256.BlockSize+n])
	for i, b := range pad {
		buf[i] = b ^ 0x5c
	}
	copy(buf[sha256.BlockSize:], inner[:])
	return sha256.Sum256(buf[:sha256.BlockSize+sha256.Size])
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
	raw := hkdfSHA256(k.master[:], fileID, labelContent)
	return mustFernetKey(raw[:])
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
