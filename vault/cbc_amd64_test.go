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
