package vault

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNotTorn: RepairTail found damage that is not a torn tail (a damaged
// file header, or a bad chunk with valid chunks after it), which cutting
// the file back would lose data to. The file is left as it is.
var ErrNotTorn = errors.New("damage is not a torn tail; left as it is")

// TailRepair says what RepairTail did to one file.
type TailRepair struct {
	// Changed is false when the file was sound (or empty) and nothing
	// was written.
	Changed bool
	// OldBacking and NewBacking are the backing sizes before and after.
	OldBacking, NewBacking int64
	// Kept is the plaintext size after the repair.
	Kept int64
	// Cut is how many damaged backing bytes were dropped from the end:
	// everything after the last kept chunk's token.
	Cut int64
	// Resealed is set when the last kept chunk was sealed again as the
	// file's final chunk (it was a valid non-final chunk before).
	Resealed bool
}

// RepairTail cuts a file with a torn tail back to its longest valid
// prefix: the whole chunks from the start that verify, plus the next
// token when it is whole. If that token is a final one, the file ends
// there (its newlines are rewritten and what follows is cut): the final
// chunk cut in its newlines, or the old or new last chunk of a change
// that a crash interrupted, followed by lines past the end it marks.
// Otherwise the last kept chunk is sealed again as the final one. The
// result is a sound file. A valid chunk is never dropped: damage with a
// chunk that verifies after it, a damaged file header, or a file in
// which nothing verifies although it has the shape of whole lines (a
// damaged file ID) is refused with ErrNotTorn and nothing is written. A
// file holding less than its header and first line (a torn first write)
// becomes empty. fsck --repair calls it for each file Check rejects.
func (c *Content) RepairTail() (TailRepair, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := c.b.Stat()
	if err != nil {
		return TailRepair{}, fmt.Errorf("%s: %w", c.Name(), err)
	}
	s := fi.Size()
	r := TailRepair{OldBacking: s, NewBacking: s}
	if s == 0 {
		return r, nil
	}
	// Whatever happens below, the caches are rebuilt from the file.
	defer func() {
		c.bsize.Store(-1)
		c.fk.Store(nil)
	}()
	lay := c.lay
	if s < int64(fileHeaderLen) {
		return c.cutTo(r, 0, 0, s)
	}
	var hdr [fileHeaderLen]byte
	if err := c.readFull(hdr[:], 0); err != nil {
		return r, err
	}
	fk, err := c.parseFileHeader(hdr[:], nil)
	if err != nil {
		return r, fmt.Errorf("%w: %w", err, ErrNotTorn)
	}
	wk := c.worker(fk)
	defer c.putWorker(fk, wk)
	C := lay.chunk
	bp := c.getBuf(2*lay.line + aesBlock)
	defer c.putBuf(bp)
	line := (*bp)[:lay.line]
	last := (*bp)[lay.line : lay.line+C : lay.line+C+aesBlock] // plaintext of the last good full chunk

	// The run of whole full lines from the start that verify as
	// non-final chunks (holes included).
	nFull := (s - int64(fileHeaderLen)) / lay.line
	good := int64(0)
	for ; good < nFull; good++ {
		if err := c.readFull(line, lay.lineOff(good)); err != nil {
			return r, err
		}
		dst := wk.scratch[:C]
		if c.openLine(wk.cd, good, line, false, dst) != nil {
			break
		}
		copy(last, dst)
	}
	// What follows the good run may still start with a whole token for
	// chunk good. A final one ends the file there: the final chunk cut in
	// its newlines or followed by junk, or (a crash while the file grew
	// or shrank) the old or new last chunk followed by lines of the
	// change that never completed, which lie past the end it marks. A
	// non-final one is a full chunk cut in its newline.
	at := lay.lineOff(good)
	out, final, tokEnd, ok, err := c.tokenAt(wk, good, at, s, line)
	if err != nil {
		return r, err
	}
	if ok && final {
		L := int64(len(out))
		newSize := at + lastLineLen(L)
		r.Kept = good*C + L
		r.Cut = s - tokEnd
		if newSize == s && c.trailingNewlines(tokEnd, s) {
			return TailRepair{OldBacking: s, NewBacking: s, Kept: r.Kept}, nil // a sound file
		}
		return c.finishNewlines(r, tokEnd, newSize)
	}
	if ok {
		copy(last, out)
	}

	// A token that verifies after the damage (a full chunk, or the final
	// one) means the damage is not a tail: cutting there would drop a
	// valid chunk.
	for i := good + 1; i <= nFull; i++ {
		_, _, _, later, err := c.tokenAt(wk, i, lay.lineOff(i), s, line)
		if err != nil {
			return r, err
		}
		if later {
			return r, fmt.Errorf("%s: chunk %d is damaged but chunk %d after it is valid: %w", c.Name(), good, i, ErrNotTorn)
		}
	}

	if ok {
		r.Kept = good*C + C
		return c.reseal(r, wk, good, last, tokEnd)
	}
	if good == 0 {
		// Nothing verifies. A file whose first write was torn holds
		// only part of its first line: a token cut short, without the
		// newlines that end a line. A whole line, or a last line with
		// all its newlines, that does not verify means the file
		// header's ID (and so the key) or every chunk is damaged.
		if nFull > 0 || c.wholeLastLine(s) {
			return r, fmt.Errorf("%s: no chunk verifies (a damaged file ID?): %w", c.Name(), ErrNotTorn)
		}
		return c.cutTo(r, 0, 0, s)
	}
	r.Kept = good * C
	r.Cut = s - at
	return c.reseal(r, wk, good-1, last, at)
}

// tokenAt looks for a whole token of chunk i at backing offset at (up to
// the first newline, or to the end of the file at s): ok if it verifies,
// is chunk i's, and holds 1..C bytes, all C unless it is final. out is
// its plaintext (in wk's scratch), tokEnd where the token ends. buf is
// room for a full line.
func (c *Content) tokenAt(wk *chunkWorker, i, at, s int64, buf []byte) (out []byte, final bool, tokEnd int64, ok bool, err error) {
	if at >= s {
		return nil, false, 0, false, nil
	}
	tail := buf[:min(s-at, c.lay.tok)]
	if err := c.readFull(tail, at); err != nil {
		return nil, false, 0, false, err
	}
	if k := bytes.IndexByte(tail, '\n'); k >= 0 {
		tail = tail[:k]
	}
	if len(tail) == 0 || tail[0] == 0 {
		return nil, false, 0, false, nil
	}
	out, ts, oerr := wk.cd.Open(wk.scratch[:0], tail)
	L := int64(len(out))
	final = ts&finalBit != 0
	ok = oerr == nil && ts&^finalBit == uint64(i) && L >= 1 && L <= c.lay.chunk && (final || L == c.lay.chunk)
	return out, final, at + int64(len(tail)), ok, nil
}

// wholeLastLine reports whether a backing file of s bytes has the shape
// of a sound file: a size that fits the layout, and the newlines its
// last line must end with.
func (c *Content) wholeLastLine(s int64) bool {
	size, err := c.lay.plainSize(s)
	if err != nil || size == 0 {
		return false
	}
	_, L := c.lay.lastChunk(size)
	return c.trailingNewlines(s-padLen(L), s)
}

// trailingNewlines reports whether backing bytes [from, to) are all LF.
func (c *Content) trailingNewlines(from, to int64) bool {
	if to-from > aesBlock {
		return false
	}
	var b [aesBlock]byte
	if c.readFull(b[:to-from], from) != nil {
		return false
	}
	for _, x := range b[:to-from] {
		if x != '\n' {
			return false
		}
	}
	return true
}

// finishNewlines writes the newlines after a final token that ends at
// tokEnd and cuts the file to newSize.
func (c *Content) finishNewlines(r TailRepair, tokEnd, newSize int64) (TailRepair, error) {
	nl := bytes.Repeat([]byte{'\n'}, int(newSize-tokEnd))
	if _, err := c.b.WriteAt(nl, tokEnd); err != nil {
		return r, fmt.Errorf("%s: %w", c.Name(), err)
	}
	return c.cutTo(r, newSize, r.Kept, r.OldBacking)
}

// reseal seals plain as chunk i, the file's new final chunk, over its
// line, and cuts the file after it. cutFrom is where the dropped bytes
// began (for the report).
func (c *Content) reseal(r TailRepair, wk *chunkWorker, i int64, plain []byte, cutFrom int64) (TailRepair, error) {
	lay := c.lay
	at := lay.lineOff(i)
	L := int64(len(plain))
	out := make([]byte, 0, lastLineLen(L))
	out = wk.cd.Seal(out, plain, uint64(i)|finalBit, nil)
	for int64(len(out)) < lastLineLen(L) {
		out = append(out, '\n')
	}
	if _, err := c.b.WriteAt(out, at); err != nil {
		return r, fmt.Errorf("%s: %w", c.Name(), err)
	}
	r.Resealed = true
	r.Cut = r.OldBacking - cutFrom
	return c.cutTo(r, at+int64(len(out)), r.Kept, r.OldBacking)
}

// cutTo truncates the backing file to size bytes (plaintext kept) and
// syncs it, finishing a repair.
func (c *Content) cutTo(r TailRepair, size, kept, cutFrom int64) (TailRepair, error) {
	r.Changed, r.NewBacking, r.Kept = true, size, kept
	if size == 0 {
		r.Cut = cutFrom
	}
	if err := c.b.Truncate(size); err != nil {
		return r, fmt.Errorf("%s: %w", c.Name(), err)
	}
	if sy, ok := c.b.(interface{ Sync() error }); ok {
		if err := sy.Sync(); err != nil {
			return r, fmt.Errorf("%s: %w", c.Name(), err)
		}
	}
	return r, nil
}
