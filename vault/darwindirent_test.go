package vault

import (
	"encoding/binary"
	"testing"
)

// darwinDirent builds a darwin struct dirent record as getdirentries
// returns it: ino, seekoff, reclen, namlen, type, the name with its NUL,
// padded to a multiple of 4 bytes.
func darwinDirent(ino uint64, typ byte, name string) []byte {
	reclen := (21 + len(name) + 1 + 3) &^ 3
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint64(b[0:], ino)
	binary.NativeEndian.PutUint64(b[8:], 12345)
	binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
	binary.NativeEndian.PutUint16(b[18:], uint16(len(name)))
	b[20] = typ
	copy(b[21:], name)
	return b
}

func TestParseDarwinDirent(t *testing.T) {
	long := string(make([]byte, 255))
	buf := append(darwinDirent(7, 4, "."), darwinDirent(99, 8, "file.txt")...)
	buf = append(buf, darwinDirent(1<<40, 10, long)...)
	want := []struct {
		ino  uint64
		typ  uint32
		name string
	}{{7, 0o040000, "."}, {99, 0o100000, "file.txt"}, {1 << 40, 0o120000, long}}
	for i, w := range want {
		ino, typ, name, rest, ok := parseDarwinDirent(buf)
		if !ok || ino != w.ino || typ != w.typ || name != w.name {
			t.Fatalf("record %d: %d %o %q %v, want %d %o %q", i, ino, typ, name, ok, w.ino, w.typ, w.name)
		}
		buf = rest
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left", len(buf))
	}
	good := darwinDirent(5, 8, "name")
	for _, bad := range [][]byte{
		good[:20],          // shorter than the fixed part
		good[:len(good)-1], // reclen past the buffer
		func() []byte { b := append([]byte(nil), good...); binary.NativeEndian.PutUint16(b[16:], 10); return b }(),  // reclen below the fixed part
		func() []byte { b := append([]byte(nil), good...); binary.NativeEndian.PutUint16(b[18:], 200); return b }(), // namlen past reclen
	} {
		if _, _, _, _, ok := parseDarwinDirent(bad); ok {
			t.Errorf("malformed record %x accepted", bad)
		}
	}
}
