package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// copyBufSize is the read size of cat and decrypt: large enough that the
// vault decrypts many chunks of each read in parallel.
const copyBufSize = 1 << 20

func catCommand() *command {
	return &command{
		name:     "cat",
		synopsis: "BACKING PATH",
		summary:  "write one file's plaintext to stdout, without mounting",
		help: `
Decrypt the file at PATH (relative to the vault root, e.g. docs/a.txt) and
write it to stdout. Every chunk is authenticated before it is written: if
one is corrupt, the output stops before it and the exit status is 5.`,
		run: runCat,
	}
}

func runCat(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	pos, err := f.parseN(e, args, "BACKING", "PATH")
	if err != nil {
		return err
	}
	if err := cred.check(c.name); err != nil {
		return err
	}
	v, err := unlock(e, &cred, pos[0])
	if err != nil {
		return err
	}
	name := displayPath(path.Clean("/" + pos[1]))
	backing, err := v.ResolvePath(pos[1])
	if err != nil {
		return err
	}
	content, file, err := openContent(v, backing, name)
	if err != nil {
		return err
	}
	defer file.Close()
	defer content.Close()
	_, err = copyContent(e.stdout, content, make([]byte, copyBufSize), nil)
	return err
}

// displayPath is how a plaintext path appears in messages: absolute within
// the vault, "/" for the root.
func displayPath(p string) string {
	return path.Join("/", p)
}

// openContent opens the backing file of a regular plaintext file for
// reading. It refuses anything else with a message naming what it is.
func openContent(v *vault.Vault, backing, name string) (*vault.Content, *os.File, error) {
	fd, err := unix.Open(backing, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		target := "?"
		if tok, err := os.Readlink(backing); err == nil {
			if t, err := v.DecryptSymlink(tok); err == nil {
				target = t
			}
		}
		return nil, nil, fmt.Errorf("%s is a symlink to %s", name, target)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		what := "not a regular file"
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			what = "a directory"
		}
		return nil, nil, fmt.Errorf("%s is %s", name, what)
	}
	// O_NONBLOCK only kept a fifo from blocking the open; a regular file
	// gets ordinary blocking I/O.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), backing)
	return v.OpenContent(f, name), f, nil
}

// copyContent writes the whole plaintext of c to w in buf-sized reads,
// counting bytes on p (may be nil).
func copyContent(w io.Writer, c *vault.Content, buf []byte, p *progress) (int64, error) {
	var off int64
	for {
		n, err := c.ReadAt(buf, off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return off, werr
			}
			off += int64(n)
			if p != nil {
				p.add(0, int64(n))
			}
		}
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}
