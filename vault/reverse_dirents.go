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
	buf := make([]byte, 32<<10)
	for {
		n, err := readDirents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) > 0; {
			_, typ, name, rest, ok := parseDirent(b)
			if !ok {
				return nil, fmt.Errorf("malformed directory entry")
			}
			b = rest
			if name != "." && name != ".." {
				out = append(out, Dirent{Name: name, Type: typ})
			}
		}
	}
}
