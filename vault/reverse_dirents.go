package vault

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Dirent is one entry of a directory listing: its name and its type as
// S_IFMT bits (0 when the filesystem does not say; stat the entry then).
type Dirent struct {
	Name string
	Type uint32
}

// ReadDirents lists the open directory fd from its current offset (use
// a fresh descriptor), without "." and "..". The reverse view lists
// plaintext directories with it: one system call per 32 KiB of entries
// and no stat per entry, which os.File.ReadDir does for a directory
// opened in an os.Root.
func ReadDirents(fd int) ([]Dirent, error) {
	var out []Dirent
	err := eachDirent(fd, func(_ uint64, typ uint32, name string) {
		out = append(out, Dirent{Name: name, Type: typ})
	})
	return out, err
}

// eachDirent calls fn for every entry of the open directory fd from its
// current offset, without "." and "..", reading 32 KiB of entries per
// system call.
func eachDirent(fd int, fn func(ino uint64, typ uint32, name string)) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := readDirents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for b := buf[:n]; len(b) > 0; {
			ino, typ, name, rest, ok := parseDirent(b)
			if !ok {
				return fmt.Errorf("malformed directory entry")
			}
			b = rest
			if name != "." && name != ".." {
				fn(ino, typ, name)
			}
		}
	}
}
