//go:build amd64 && !purego

package fernet

import (
	"math/rand/v2"
	"testing"
)

func TestCBCExpandAES128MatchesReference(t *testing.T) {
	if !detectCPU().aesni {
		if mustRun(cpuFeatures{aesni: true}) {
			t.Fatal("CI: /proc/cpuinfo lists AES-NI but detectCPU does not")
		}
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
