package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// refSeal is the Fernet spec written plainly with the standard library,
// the yardstick for the assembly paths in Seal and Open.
func refSeal(raw32, plain []byte, ts uint64, iv []byte) string {
	block, err := aes.NewCipher(raw32[16:])
	if err != nil {
		panic(err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	msg := []byte{0x80}
	msg = binary.BigEndian.AppendUint64(msg, ts)
	msg = append(msg, iv...)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	msg = append(msg, ct...)
	m := hmac.New(sha256.New, raw32[:16])
	m.Write(msg)
	return base64.URLEncoding.EncodeToString(m.Sum(msg))
}

// featureSets lists every subset of the host's CPU features, so tests run
// each assembly path and each fallback combination on this machine.
func featureSets() []cpuFeatures {
	var out []cpuFeatures
	seen := map[cpuFeatures]bool{}
	for m := 0; m < 4; m++ {
		f := cpuFeatures{
			aesni: hostCPU.aesni && m&1 != 0,
			avx2:  hostCPU.avx2 && m&2 != 0,
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func TestFernetMatchesReference(t *testing.T) {
	for _, f := range featureSets() {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) { testFernetMatchesReference(t, f) })
	}
}

func testFernetMatchesReference(t *testing.T, cpu cpuFeatures) {
	rng := rand.New(rand.NewPCG(5, 6))
	var sizes []int
	for n := 0; n <= 200; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 4095, 4096, 4097, 8191, 8192, 9000)
	for i := 0; i < 60; i++ {
		sizes = append(sizes, rng.IntN(9001))
	}
	for _, n := range sizes {
		raw32 := make([]byte, 32)
		fillRand(rng, raw32)
		k, err := NewFernetKey(raw32)
		if err != nil {
			t.Fatal(err)
		}
		c := k.NewCodec()
		c.cpu = cpu
		plain := make([]byte, n)
		fillRand(rng, plain)
		iv := make([]byte, 16)
		fillRand(rng, iv)
		ts := rng.Uint64()

		want := refSeal(raw32, plain, ts, iv)
		prefix := []byte("prefix")
		got := c.Seal(bytes.Clone(prefix), plain, ts, iv)
		if !bytes.HasPrefix(got, prefix) || string(got[len(prefix):]) != want {
			t.Fatalf("len %d: Seal differs from the reference", n)
		}
		if TokenLen(n) != len(want) {
			t.Fatalf("len %d: TokenLen %d, token %d", n, TokenLen(n), len(want))
		}
		pt, gotTS, err := c.Open(bytes.Clone(prefix), []byte(want))
		if err != nil || gotTS != ts || !bytes.Equal(pt, append(bytes.Clone(prefix), plain...)) {
			t.Fatalf("len %d: Open(reference token) = %v, ts %d", n, err, gotTS)
		}
		// A flipped bit anywhere in the raw token fails the MAC (or the
		// version check), and Open leaves dst as it was.
		tampered, _ := base64.URLEncoding.DecodeString(want)
		tampered[rng.IntN(len(tampered))] ^= 1 << rng.IntN(8)
		out, _, err := c.Open(bytes.Clone(prefix), []byte(base64.URLEncoding.EncodeToString(tampered)))
		if !errors.Is(err, ErrBadToken) || !bytes.Equal(out, prefix) {
			t.Fatalf("len %d: tampered token: %v, dst %q", n, err, out)
		}
	}
}

// A token with a valid MAC but bad PKCS7 padding (only the key holder can
// make one) must be rejected, with dst unchanged.
func TestFernetBadPaddingValidMAC(t *testing.T) {
	raw32 := bytes.Repeat([]byte{9}, 32)
	k, _ := NewFernetKey(raw32)
	c := k.NewCodec()
	block, _ := aes.NewCipher(raw32[16:])
	for _, last := range [][]byte{
		bytes.Repeat([]byte{0}, 16),                         // pad byte 0
		bytes.Repeat([]byte{17}, 16),                        // pad byte > 16
		append(bytes.Repeat([]byte{1}, 13), 2, 3, 3),        // inconsistent pad bytes
		append(bytes.Repeat([]byte{16}, 15), 15),            // 15 claimed, one byte wrong
		append([]byte{15}, bytes.Repeat([]byte{16}, 15)...), // 16 claimed, first byte wrong
	} {
		iv := make([]byte, 16)
		msg := append([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 1}, iv...)
		ct := make([]byte, 32)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, append(bytes.Repeat([]byte{'x'}, 16), last...))
		msg = append(msg, ct...)
		m := hmac.New(sha256.New, raw32[:16])
		m.Write(msg)
		tok := base64.URLEncoding.EncodeToString(m.Sum(msg))
		dst := make([]byte, 3, 100)
		out, _, err := c.Open(dst, []byte(tok))
		if !errors.Is(err, ErrBadToken) || len(out) != 3 {
			t.Fatalf("padding %x accepted: %v", last, err)
		}
		if !bytes.Equal(dst[:cap(dst)], make([]byte, cap(dst))) {
			t.Fatalf("padding %x: plaintext left in dst's spare capacity", last)
		}
	}
}

// Every character position of a long token, in the bulk part and the
// final quantum alike, must reject both a
// character outside the alphabet and a different alphabet character.
func TestFernetOpenCorruptCharacters(t *testing.T) {
	k, _ := NewFernetKey(bytes.Repeat([]byte{3}, 32))
	for _, f := range featureSets() {
		c := k.NewCodec()
		c.cpu = f
		for _, size := range []int{0, 200, 4096} {
			tok := c.Seal(nil, make([]byte, size), 1, nil)
			for i := range tok {
				for _, ch := range []byte{'=', '\n', tok[i] ^ 1} {
					if ch == tok[i] {
						continue
					}
					bad := bytes.Clone(tok)
					bad[i] = ch
					if _, _, err := c.Open(nil, bad); !errors.Is(err, ErrBadToken) {
						t.Fatalf("%+v size %d: %q at %d: %v", f, size, ch, i, err)
					}
				}
			}
		}
	}
}
