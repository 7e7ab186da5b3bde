//go:build amd64 && !purego

package vault

import (
	"math/rand/v2"
	"testing"
)

func TestCBCExpandAES128MatchesReference(t *testing.T) {
	if !hostCPU.aesni {
		t.Skip("no AES-NI")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	key := make([]byte, 16)
	for i := 0; i < 1000; i++ {
		fillRand(rng, key)
		var got, want aes128Schedule
		expandAES128(&key[0], &got)
		refExpand(&want, key)
		if got != want {
			t.Fatalf("key %x: AESKEYGENASSIST schedule differs from FIPS-197", key)
		}
	}
}

func BenchmarkSHA256Blocks4K(b *testing.B) {
	buf := make([]byte, 4096)
	st := sha256Init
	b.SetBytes(4096)
	for b.Loop() {
		sha256BlocksSHANI(&st, &buf[0], 64)
	}
}

func BenchmarkCBCEncSHA256Stitched4K(b *testing.B) {
	var s aes128Schedule
	expandAES128(&make([]byte, 16)[0], &s)
	src := make([]byte, 4096)
	dst := make([]byte, 4096)
	msg := make([]byte, 4096)
	iv := make([]byte, 16)
	st := sha256Init
	b.SetBytes(4096)
	for b.Loop() {
		cbcEncSHA256(&s.enc, &iv[0], &dst[0], &src[0], &st, &msg[0], 64)
	}
}

func TestSHA256Blocks2MatchesOne(t *testing.T) {
	if !hostCPU.shani {
		t.Skip("no SHA-NI")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 2, 3, 64, 65} {
		a, b := make([]byte, 64*n+1), make([]byte, 64*n+1)
		fillRand(rng, a)
		fillRand(rng, b)
		sa, sb := sha256Init, sha256Init
		sa[3] ^= 1 // two different states
		wa, wb := sa, sb
		var pa, pb *byte
		if n > 0 {
			pa, pb = &a[0], &b[0]
			sha256BlocksSHANI(&wa, pa, n)
			sha256BlocksSHANI(&wb, pb, n)
		}
		sha256Blocks2SHANI(&sa, &sb, pa, pb, n)
		if sa != wa || sb != wb {
			t.Fatalf("%d blocks: interleaved states %x %x, one at a time %x %x", n, sa, sb, wa, wb)
		}
	}
}

func BenchmarkSHA256Blocks2x4K(b *testing.B) {
	buf := make([]byte, 8192)
	sa, sb := sha256Init, sha256Init
	b.SetBytes(8192)
	for b.Loop() {
		sha256Blocks2SHANI(&sa, &sb, &buf[0], &buf[4096], 64)
	}
}
