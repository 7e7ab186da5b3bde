package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"testing"
)

// refExpand is FIPS-197's key expansion (sections 5.2 and 5.3.5) in plain
// Go, the reference for expandAES128's AESKEYGENASSIST/AESIMC version.
func refExpand(s *aes128Schedule, key []byte) {
	_ = key[15]
	copy(s.enc[:16], key)
	rcon := byte(1)
	for i := 16; i < len(s.enc); i += 4 {
		t0, t1, t2, t3 := s.enc[i-4], s.enc[i-3], s.enc[i-2], s.enc[i-1]
		if i%16 == 0 {
			t0, t1, t2, t3 = aesSbox[t1]^rcon, aesSbox[t2], aesSbox[t3], aesSbox[t0]
			rcon = xtime(rcon)
		}
		s.enc[i] = s.enc[i-16] ^ t0
		s.enc[i+1] = s.enc[i-15] ^ t1
		s.enc[i+2] = s.enc[i-14] ^ t2
		s.enc[i+3] = s.enc[i-13] ^ t3
	}
	copy(s.dec[:16], s.enc[160:])
	copy(s.dec[160:], s.enc[:16])
	for r := 1; r < 10; r++ {
		src := s.enc[(10-r)*16 : (11-r)*16]
		dst := s.dec[r*16 : (r+1)*16]
		for c := 0; c < 16; c += 4 {
			invMixColumn(dst[c:c+4], src[c:c+4])
		}
	}
}

// xtime multiplies by x in GF(2^8) modulo x^8+x^4+x^3+x+1.
func xtime(a byte) byte {
	return a<<1 ^ 0x1b&-(a>>7)
}

// invMixColumn applies InvMixColumns to one 4-byte column: the matrix
// rows are (14 11 13 9) rotated, built from x, x^2 and x^3 multiples.
func invMixColumn(dst, a []byte) {
	_, _ = dst[3], a[3]
	var m2, m4, m8 [4]byte
	for i := range 4 {
		m2[i] = xtime(a[i])
		m4[i] = xtime(m2[i])
		m8[i] = xtime(m4[i])
	}
	for i := range 4 {
		j, k, l := (i+1)%4, (i+2)%4, (i+3)%4
		dst[i] = m8[i] ^ m4[i] ^ m2[i] ^ // 14
			m8[j] ^ m2[j] ^ a[j] ^ // 11
			m8[k] ^ m4[k] ^ a[k] ^ // 13
			m8[l] ^ a[l] // 9
	}
}

// aesSbox is the AES S-box (FIPS-197 figure 7), read only.
var aesSbox = [256]byte{
	0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
	0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
	0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
	0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
	0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
	0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
	0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
	0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
	0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
	0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
	0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
	0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
	0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
	0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
	0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
	0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
}

// FIPS-197 appendix A.1 expands this key to this last round key.
func TestCBCKeyExpansionFIPS197(t *testing.T) {
	key := []byte{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
	want := []byte{0xd0, 0x14, 0xf9, 0xa8, 0xc9, 0xee, 0x25, 0x89, 0xe1, 0x3f, 0x0c, 0xc8, 0xb6, 0x63, 0x0c, 0xa6}
	var s aes128Schedule
	refExpand(&s, key)
	if !bytes.Equal(s.enc[160:], want) {
		t.Fatalf("round key 10 = %x, want %x", s.enc[160:], want)
	}
	if !bytes.Equal(s.dec[:16], want) || !bytes.Equal(s.dec[160:], key) {
		t.Fatalf("inverse schedule ends wrong: %x ... %x", s.dec[:16], s.dec[160:])
	}
}

// TestCBCMatchesStdlib checks the Codec's CBC (assembly on amd64 with
// AES-NI) against crypto/cipher for random keys, IVs and lengths, both
// in place and into a separate buffer.
func TestCBCMatchesStdlib(t *testing.T) {
	forEachPath(t, testCBCMatchesStdlib)
}

func testCBCMatchesStdlib(t *testing.T, cpu cpuFeatures) {
	rng := rand.New(rand.NewPCG(1, 2))
	iters := 300
	if testing.Short() {
		iters = 50
	}
	for it := 0; it < iters; it++ {
		raw := make([]byte, 32)
		fillRand(rng, raw)
		k, err := newKey(raw, cpu)
		if err != nil {
			t.Fatal(err)
		}
		c := k.NewCodec()
		block, _ := aes.NewCipher(raw[16:])
		iv := make([]byte, 16)
		fillRand(rng, iv)
		n := rng.IntN(9001) / BlockSize * BlockSize
		if it < 20 {
			n = it * BlockSize // every tail length of the 8-block loop
		}
		pt := make([]byte, n)
		fillRand(rng, pt)

		want := make([]byte, n)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(want, pt)
		got := make([]byte, n)
		c.cbcEncrypt(got, pt, iv)
		if !bytes.Equal(got, want) {
			t.Fatalf("encrypt len %d differs from crypto/cipher", n)
		}
		inPlace := bytes.Clone(pt)
		c.cbcEncrypt(inPlace, inPlace, iv)
		if !bytes.Equal(inPlace, want) {
			t.Fatalf("in-place encrypt len %d differs from crypto/cipher", n)
		}

		back := make([]byte, n)
		c.cbcDecrypt(back, want, iv)
		if !bytes.Equal(back, pt) {
			t.Fatalf("decrypt len %d differs from plaintext", n)
		}
		c.cbcDecrypt(inPlace, inPlace, iv)
		if !bytes.Equal(inPlace, pt) {
			t.Fatalf("in-place decrypt len %d differs from plaintext", n)
		}
		// Neither direction may modify the IV (Fernet keeps it in the token).
		ivCopy := bytes.Clone(iv)
		c.cbcEncrypt(got, pt, iv)
		c.cbcDecrypt(back, got, iv)
		if !bytes.Equal(iv, ivCopy) {
			t.Fatalf("IV modified")
		}
	}
}

func BenchmarkCBCEncrypt4K(b *testing.B) { benchCBC(b, false) }
func BenchmarkCBCDecrypt4K(b *testing.B) { benchCBC(b, true) }

func benchCBC(b *testing.B, dec bool) {
	for _, f := range []cpuFeatures{{}, {aesni: true}} {
		if !hasPath(f) {
			continue
		}
		b.Run(f.String(), func(b *testing.B) {
			k, _ := newKey(bytes.Repeat([]byte{7}, 32), f)
			c := k.NewCodec()
			buf := make([]byte, 4112)
			iv := make([]byte, 16)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if dec {
					c.cbcDecrypt(buf, buf, iv)
				} else {
					c.cbcEncrypt(buf, buf, iv)
				}
			}
		})
	}
}

func BenchmarkNewKey(b *testing.B) {
	raw := bytes.Repeat([]byte{7}, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewKey(raw); err != nil {
			b.Fatal(err)
		}
	}
}
