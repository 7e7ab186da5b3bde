package vault

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// readDirents reads directory records of the form parseDirent decodes.
func readDirents(fd int, buf []byte) (int, error) { return unix.Getdents(fd, buf) }

// parseDirent decodes one linux_dirent64 record: ino u64, off s64,
// reclen u16, type u8, NUL-terminated name. DT_* values are the S_IFMT
// bits shifted right by 12.
func parseDirent(b []byte) (ino uint64, typ uint32, name string, rest []byte, ok bool) {
	ino, _, typ, nb, rest, ok := direntBytes(b)
	return ino, typ, string(nb), rest, ok
}

// direntBytes is parseDirent with the record's offset (d_off), and the
// name as a slice of b.
func direntBytes(b []byte) (ino, off uint64, typ uint32, name, rest []byte, ok bool) {
	const nameOff = 19
	if len(b) < nameOff {
		return 0, 0, 0, nil, nil, false
	}
	reclen := int(binary.NativeEndian.Uint16(b[16:18]))
	if reclen < nameOff || reclen > len(b) {
		return 0, 0, 0, nil, nil, false
	}
	name = b[nameOff:reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return binary.NativeEndian.Uint64(b[0:8]), binary.NativeEndian.Uint64(b[8:16]), uint32(b[18]) << 12, name, b[reclen:], true
}
