package vault

import "crypto/rand"

// DirIVName is the per-directory IV file of encrypted-name vaults.
const DirIVName = "fernetfs.diriv"

// DirIVLen is the length of a directory IV.
const DirIVLen = 16

// CreateDirIV writes a fresh random directory IV into dir (mode 0400).
func CreateDirIV(dir string) error {
	iv := make([]byte, DirIVLen)
	rand.Read(iv)
	return writeFileAtomic(dir, DirIVName, iv, 0o400)
}
