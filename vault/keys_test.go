package vault

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"strings"
	"testing"
)

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

// TestHKDFMatchesStdlib checks the allocation-free HKDF against
// crypto/hkdf for every salt and master length it takes without falling
// back, the labels the vault uses, and lengths past its buffers (where
// it falls back).
func TestHKDFMatchesStdlib(t *testing.T) {
	labels := []string{labelContent, labelName, labelNameIV, labelXattr, labelSymlink, labelHeaderMAC,
		"", strings.Repeat("l", hmacMaxMsg-1), strings.Repeat("l", hmacMaxMsg), strings.Repeat("l", 200)}
	buf := make([]byte, 200)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	for _, label := range labels {
		for _, sl := range []int{-1, 0, 1, 16, 32, 63, 64, 65, 100} {
			var salt []byte
			if sl >= 0 {
				salt = buf[100 : 100+sl]
			}
			for _, ml := range []int{0, 1, 16, 32, 63, 64, 65, 100} {
				master := buf[:ml]
				want, err := hkdf.Key(sha256.New, master, salt, label, 32)
				if err != nil {
					t.Fatal(err)
				}
				if got := hkdfSHA256(master, salt, label); !bytes.Equal(got[:], want) {
					t.Errorf("salt %d, master %d, label %d bytes: %x, want %x", sl, ml, len(label), got, want)
				}
			}
		}
	}
}

// TestHKDFAllocs checks that a content key's HKDF allocates nothing.
func TestHKDFAllocs(t *testing.T) {
	master, id := make([]byte, 32), make([]byte, fileIDLen)
	if n := testing.AllocsPerRun(100, func() { hkdfSHA256(master, id, labelContent) }); n != 0 {
		t.Errorf("hkdfSHA256 made %v allocations, want 0", n)
	}
}
