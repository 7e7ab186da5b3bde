//go:build amd64 && !purego

package vault

// prepare precomputes the key material of the assembly paths the CPU
// supports: the AES-NI round keys, and the HMAC inner and outer states.
func (k *FernetKey) prepare(raw []byte) {
	if hostCPU.aesni {
		expandAES128(&raw[16], &k.sched)
	}
	if hostCPU.shani {
		k.initPads()
	}
}

// initPads precomputes the HMAC inner and outer states from the signing key.
func (k *FernetKey) initPads() {
	var ipad, opad [64]byte
	copy(ipad[:], k.sign[:])
	copy(opad[:], k.sign[:])
	for j := range ipad {
		ipad[j] ^= 0x36
		opad[j] ^= 0x5c
	}
	k.pads.inner, k.pads.outer = sha256Init, sha256Init
	sha256BlocksSHANI(&k.pads.inner, &ipad[0], 1)
	sha256BlocksSHANI(&k.pads.outer, &opad[0], 1)
}
