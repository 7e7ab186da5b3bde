package main

import (
	"errors"
	"fmt"
	"io"

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
	name := displayPath(pos[1])
	dir, backing, err := v.Lookup(pos[1])
	if err != nil {
		return err
	}
	defer dir.Close()
	if backing == "." {
		return fmt.Errorf("%s is a directory, %w", name, vault.ErrNotRegular)
	}
	content, file, err := dir.OpenContent(backing, name)
	if err != nil {
		return err
	}
	defer file.Close()
	defer content.Close()
	_, err = copyContent(e.stdout, content, make([]byte, copyBufSize), nil)
	return journalHint(v, err)
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
