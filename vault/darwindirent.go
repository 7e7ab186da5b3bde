package vault

import "encoding/binary"

// The darwin record format is decoded here, without a build constraint,
// so that its tests run on Linux too.

// parseDarwinDirent decodes one darwin struct dirent record: ino u64, seekoff
// u64, reclen u16, namlen u16, type u8, name. DT_* values are the S_IFMT
// bits shifted right by 12.
func parseDarwinDirent(b []byte) (ino uint64, typ uint32, name string, rest []byte, ok bool) {
	const nameOff = 21
	if len(b) < nameOff {
		return 0, 0, "", nil, false
	}
	reclen := int(binary.NativeEndian.Uint16(b[16:18]))
	namlen := int(binary.NativeEndian.Uint16(b[18:20]))
	if reclen < nameOff || reclen > len(b) || nameOff+namlen > reclen {
		return 0, 0, "", nil, false
	}
	ino = binary.NativeEndian.Uint64(b[0:8])
	typ = uint32(b[20]) << 12
	return ino, typ, string(b[nameOff : nameOff+namlen]), b[reclen:], true
}
