package vault

import "golang.org/x/sys/unix"

// readDirents reads directory records of the form parseDirent decodes.
func readDirents(fd int, buf []byte) (int, error) { return unix.ReadDirent(fd, buf) }

// parseDirent decodes one record of readDirents.
func parseDirent(b []byte) (ino uint64, typ uint32, name string, rest []byte, ok bool) {
	return parseDarwinDirent(b)
}
