package vault

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// readDirents reads directory records of the form parseDirent decodes.
func readDirents(fd int, buf []byte) (int, error) { return unix.Getdents(fd, buf) }

// parseDirent decodes one linux_dirent64 record: ino u64, off s64,
// reclen u16, type u8, NUL-terminated name. DT_* values are the S_IFMT
// bits shifted right by 12.
func parseDirent(b []byte) (ino uint64, typ uint32, name string, rest []byte, ok bool) {
	const nameOff = 19
	if len(b) < nameOff {
		return 0, 0, "", nil, false
	}
	reclen := int(binary.NativeEndian.Uint16(b[16:18]))
	if reclen < nameOff || reclen > len(b) {
		return 0, 0, "", nil, false
	}
	ino = binary.NativeEndian.Uint64(b[0:8])
	typ = uint32(b[18]) << 12
	nb := b[nameOff:reclen]
	for i, c := range nb {
		if c == 0 {
			nb = nb[:i]
			break
		}
	}
	return ino, typ, string(nb), b[reclen:], true
}
