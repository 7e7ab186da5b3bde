package vault

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestHKDF32FastMatchesHKDF checks the allocation-free HKDF against
// crypto/hkdf over the salt and label lengths it accepts (and that it
// declines the rest), so a content key never depends on the CPU.
func TestHKDF32FastMatchesHKDF(t *testing.T) {
	if !hostCPU.shani {
		var out [32]byte
		if hkdf32Fast(&out, make([]byte, 32), make([]byte, 16), labelContent) {
			t.Fatal("hkdf32Fast ran without SHA-NI")
		}
		t.Skip("no SHA-NI: ContentKey uses crypto/hkdf")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	fast := 0
	for saltLen := 0; saltLen <= 70; saltLen++ {
		for _, labelLen := range []int{0, 1, len(labelContent), 54, 55, 60} {
			secret := make([]byte, 32)
			salt := make([]byte, saltLen)
			for _, b := range [][]byte{secret, salt} {
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
			}
			label := strings.Repeat("L", labelLen)
			var got [32]byte
			ok := hkdf32Fast(&got, secret, salt, label)
			if want := saltLen >= 1 && saltLen <= 64 && labelLen <= 54; ok != want {
				t.Fatalf("salt %d, label %d: fast path taken %v, want %v", saltLen, labelLen, ok, want)
			}
			if !ok {
				continue
			}
			fast++
			if want := hkdf32(secret, salt, label); !bytes.Equal(got[:], want) {
				t.Fatalf("salt %d, label %d: %x, crypto/hkdf gives %x", saltLen, labelLen, got, want)
			}
		}
	}
	if fast == 0 {
		t.Fatal("fast path never taken")
	}
	// The derivation mounts use: a 16-byte file ID under the content label.
	var k Keys
	id := bytes.Repeat([]byte{0xa5}, fileIDLen)
	var raw [32]byte
	copy(raw[:], hkdf32(k.master[:], id, labelContent))
	if got, want := k.ContentKey(id), mustFernetKey(raw[:]); got.sign != want.sign || got.sched != want.sched {
		t.Fatal("ContentKey differs from crypto/hkdf's derivation")
	}
}

// TestContentKeyAllocations guards the point of hkdf32Fast: deriving a
// file's key allocates only the key itself.
func TestContentKeyAllocations(t *testing.T) {
	if !hostCPU.shani {
		t.Skip("no SHA-NI: ContentKey uses crypto/hkdf")
	}
	k := DeriveKeys([32]byte{1})
	id := make([]byte, fileIDLen)
	if n := testing.AllocsPerRun(100, func() { k.ContentKey(id) }); n > 4 {
		t.Errorf("ContentKey: %v allocations, want at most 4", n)
	}
}

// BenchmarkContentKey measures deriving one file's content key, which
// every open and create of a file does once.
func BenchmarkContentKey(b *testing.B) {
	k := DeriveKeys([32]byte{1})
	id := make([]byte, fileIDLen)
	b.ReportAllocs()
	for b.Loop() {
		k.ContentKey(id)
	}
}
