package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"testing"
)

// FIPS-197 appendix A.1 expands this key to this last round key.
func TestCBCKeyExpansionFIPS197(t *testing.T) {
	key := []byte{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
	want := []byte{0xd0, 0x14, 0xf9, 0xa8, 0xc9, 0xee, 0x25, 0x89, 0xe1, 0x3f, 0x0c, 0xc8, 0xb6, 0x63, 0x0c, 0xa6}
	var s aes128Schedule
	s.expand(key)
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
	rng := rand.New(rand.NewPCG(1, 2))
	iters := 300
	if testing.Short() {
		iters = 50
	}
	for it := 0; it < iters; it++ {
		raw := make([]byte, 32)
		fillRand(rng, raw)
		k, err := NewFernetKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		c := k.NewCodec()
		block, _ := aes.NewCipher(raw[16:])
		iv := make([]byte, 16)
		fillRand(rng, iv)
		n := rng.IntN(9001) / aesBlock * aesBlock
		if it < 20 {
			n = it * aesBlock // every tail length of the 8-block loop
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

func fillRand(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func BenchmarkCBCEncrypt4K(b *testing.B) { benchCBC(b, false) }
func BenchmarkCBCDecrypt4K(b *testing.B) { benchCBC(b, true) }

func benchCBC(b *testing.B, dec bool) {
	k, _ := NewFernetKey(bytes.Repeat([]byte{7}, 32))
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
}
