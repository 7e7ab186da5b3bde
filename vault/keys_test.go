package vault

import "testing"

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
