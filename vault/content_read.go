package vault

import (
	"fmt"
	"io"
	"syscall"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// ReadAt reads plaintext with io.ReaderAt semantics: a read that reaches
// the end of the file returns io.EOF with the bytes before it. The whole
// backing range is read with one ReadAt and the chunks are decrypted in
// parallel. A corrupt chunk fails only reads that cover it: the error
// (wrapping ErrCorrupt, naming the file and chunk) comes with the count of
// good bytes before that chunk.
func (c *Content) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read at negative offset %d: %w", c.Name(), off, syscall.EINVAL)
	}
	unlock, err := c.lockRead(off, len(p))
	if err != nil {
		return 0, err
	}
	defer unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, size, err := c.sizeLocked()
	if err != nil {
		return 0, err
	}
	if off >= size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	lay := c.lay
	end := min(off+int64(len(p)), size)
	first, last := off/lay.chunk, (end-1)/lay.chunk
	lastIdx, lastLen := lay.lastChunk(size)

	fk := c.fk.Load()
	start := lay.lineOff(first)
	if first == 0 {
		start = 0 // read the header line along with chunk 0
	} else if fk == nil {
		if fk, err = c.loadKey(); err != nil {
			return 0, err
		}
	}
	stop := s
	if last != lastIdx {
		stop = lay.lineOff(last + 1)
	}
	bp, buf, err := c.readLines(start, stop)
	defer c.putBuf(bp)
	if err != nil {
		return 0, err
	}
	if first == 0 {
		if fk, err = c.parseFileHeader(buf[:fileHeaderLen], fk); err != nil {
			return 0, err
		}
		buf = buf[fileHeaderLen:]
	}
	rp := readPlan{c: c, p: p, buf: buf, off: off, end: end, first: first, lastIdx: lastIdx, lastLen: lastLen}
	bad, err := rp.run(fk, last+1)
	if err != nil {
		return int(max(bad*lay.chunk-off, 0)), err
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readPlan is one ReadAt after its backing lines are read: it decrypts
// chunks first.. into p. It is a value on ReadAt's stack; only a read
// spread over goroutines copies it to the heap, so a 4 KiB read
// allocates nothing.
type readPlan struct {
	c        *Content
	p, buf   []byte // the destination; the lines from chunk first on
	off, end int64  // the plaintext range p covers
	first    int64
	lastIdx  int64 // the file's last chunk and its length
	lastLen  int64
}

// run decrypts chunks first..hi-1 (see forChunks for the result).
func (r *readPlan) run(fk *fileKey, hi int64) (int64, error) {
	if serialChunks(hi - r.first) {
		wk := r.c.worker(fk)
		defer r.c.putWorker(fk, wk)
		return runChunks(wk, r.first, hi, r.chunk)
	}
	rc := *r
	return r.c.forChunks(fk, r.first, hi, rc.chunk)
}

// chunkLen is how many bytes chunk i holds.
func (r *readPlan) chunkLen(i int64) int64 {
	if i == r.lastIdx {
		return r.lastLen
	}
	return r.c.lay.chunk
}

// direct reports whether chunk i is decrypted straight into p. Open
// needs up to aesBlock bytes of room after the plaintext: a whole chunk
// goes straight into p when that room is the start of the next chunk's
// part of p and the same goroutine fills that next (runEnd ends the run
// of chunks it fills in order).
func (r *readPlan) direct(i, runEnd int64) bool {
	cs, clen := i*r.c.lay.chunk, r.chunkLen(i)
	return r.off <= cs && cs+clen <= r.end && i+1 < runEnd &&
		min(r.end, cs+clen+r.chunkLen(i+1))-(cs+clen) >= aesBlock
}

// chunk decrypts chunk i into its part of p; runEnd ends the run of
// chunks the calling goroutine fills in order. It returns what a chunkFn
// returns.
func (r *readPlan) chunk(wk *chunkWorker, i, runEnd int64) (int64, error) {
	lay := r.c.lay
	at := (i - r.first) * lay.line
	p, off := r.p, r.off
	cs := i * lay.chunk
	if r.direct(i, runEnd) {
		// Chunk i is whole and not the last, so its line is full.
		line := r.buf[at : at+lay.line]
		if err := r.c.openLine(wk.cd, i, line, false, p[cs-off:cs+lay.chunk-off:cs+lay.chunk-off+aesBlock]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	line, clen := r.buf[at:], r.chunkLen(i)
	if i != r.lastIdx {
		line = r.buf[at : at+lay.line]
	}
	lo, hi := max(r.off, cs), min(r.end, cs+clen)
	sc := wk.scratch[:clen]
	if err := r.c.openLine(wk.cd, i, line, i == r.lastIdx, sc); err != nil {
		return 0, err
	}
	copy(p[lo-off:hi-off], sc[lo-cs:hi-cs])
	return 1, nil
}

// openLine verifies the backing line of chunk i and stores its plaintext
// in dst, whose length is what the layout says the chunk holds (C, or the
// last chunk's length). Codec.Open decrypts the padding too, so dst needs
// aesBlock bytes of spare capacity (which it may scribble on) to be filled
// in place. last says whether i is the file's last chunk; its line is the
// token and the trailing newlines.
func (c *Content) openLine(cd *fernet.Codec, i int64, line []byte, last bool, dst []byte) error {
	want := len(dst)
	var tok []byte
	if last {
		tl := fernet.TokenLen(want)
		if len(line) != tl+int(padLen(int64(want))) {
			return c.chunkErr(i, nil, "last line is %d bytes, want %d", len(line), tl+int(padLen(int64(want))))
		}
		if line[0] == 0 {
			return c.chunkErr(i, nil, "last chunk is a hole")
		}
		for _, b := range line[tl:] {
			if b != '\n' {
				return c.chunkErr(i, nil, "want %d newlines after the last token", len(line)-tl)
			}
		}
		tok = line[:tl]
	} else {
		if int64(len(line)) != c.lay.line {
			return c.chunkErr(i, nil, "line is %d bytes, want %d", len(line), c.lay.line)
		}
		if line[0] == 0 {
			if !allZero(line) {
				return c.chunkErr(i, nil, "hole line is not all NUL bytes")
			}
			clear(dst)
			return nil
		}
		if line[len(line)-1] != '\n' {
			return c.chunkErr(i, nil, "line does not end in a newline")
		}
		tok = line[:len(line)-1]
	}
	out, ts, err := cd.Open(dst[:0], tok)
	return c.checkOpened(i, out, ts, err, last, dst)
}

// checkOpened checks what Open made of chunk i's token against the
// layout: the length (dst's), the chunk index and the final mark.
func (c *Content) checkOpened(i int64, out []byte, ts uint64, err error, last bool, dst []byte) error {
	want := len(dst)
	if err != nil {
		return c.chunkErr(i, err, "token")
	}
	if len(out) != want {
		return c.chunkErr(i, nil, "holds %d bytes, want %d", len(out), want)
	}
	if want > 0 && &out[0] != &dst[0] {
		copy(dst, out) // Open had to allocate; not expected with enough room
	}
	if idx := ts &^ finalBit; idx != uint64(i) {
		return c.chunkErr(i, nil, "token is chunk %d's (chunks moved or swapped)", idx)
	}
	if final := ts&finalBit != 0; final != last {
		if last {
			return c.chunkErr(i, nil, "last chunk lacks the final mark (file cut short)")
		}
		return c.chunkErr(i, nil, "final chunk in the middle of the file (file cut or chunks moved)")
	}
	return nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
