package vault

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// WriteAt writes plaintext at off, growing the file if the write ends past
// it. Only the chunks the write covers are sealed (read-modify-write for
// partial ones); growing rewrites the old last chunk as a full chunk and
// leaves chunks wholly between the old end and off as holes. Full chunks
// come straight from p, are sealed in parallel and written with one
// WriteAt per run (see store for the order).
//
// When the backing write fails (ENOSPC, EDQUOT, EIO), the file keeps its
// old content except for whole chunks at the start of the write that were
// already replaced: n counts their bytes, so a caller that reports n as a
// short write has acknowledged exactly what changed.
func (c *Content) WriteAt(p []byte, off int64) (n int, err error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: write at negative offset %d: %w", c.Name(), off, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := off + int64(len(p))
	if end > c.lay.maxPlain || end < off {
		return 0, fmt.Errorf("%s: write to %d: %w", c.Name(), end, syscall.EFBIG)
	}
	unlock, err := c.lockWrite(off, end)
	if err != nil {
		return 0, err
	}
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, size, err := c.sizeLocked()
	if err != nil {
		return 0, err
	}
	done, err := c.modify(s, size, max(size, end), p, off)
	if err != nil {
		return int(done), err
	}
	return len(p), nil
}

// Truncate sets the plaintext size. Growing leaves holes (no disk use) and
// rewrites the old last chunk; shrinking reseals the new last chunk and
// cuts the backing file; truncating to 0 empties it, dropping the file ID
// so the next write starts a new one.
func (c *Content) Truncate(size int64) error {
	if size < 0 {
		return fmt.Errorf("%s: truncate to %d: %w", c.Name(), size, syscall.EINVAL)
	}
	if size > c.lay.maxPlain {
		return fmt.Errorf("%s: truncate to %d: %w", c.Name(), size, syscall.EFBIG)
	}
	unlock, err := c.lockResize()
	if err != nil {
		return err
	}
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if size == 0 {
		c.fk.Store(nil)
		if err := c.b.Truncate(0); err != nil {
			c.bsize.Store(-1)
			return fmt.Errorf("%s: %w", c.Name(), err)
		}
		c.bsize.Store(0)
		return nil
	}
	s, old, err := c.sizeLocked()
	if err != nil {
		return err
	}
	if old == size {
		return nil
	}
	_, err = c.modify(s, old, size, nil, 0)
	return err
}

// Allocate implements fallocate mode 0 (keepSize false) and
// FALLOC_FL_KEEP_SIZE: it reserves the backing space that chunks of
// [off, off+length) need as full lines, so that later writes into the
// range cannot fail for lack of space; mode 0 then grows the file to
// cover the range if it is shorter (reading as zeros there). It never
// shrinks. The reservation is a fallocate(FALLOC_FL_KEEP_SIZE) of the
// backing file: reserved bytes inside the file read as NUL, which is what
// a hole is, so no chunk changes and a crash leaves nothing to repair.
// A backing that cannot reserve (no fallocate) fails with EOPNOTSUPP and
// the file is unchanged, so posix_fallocate falls back to writing zeros.
func (c *Content) Allocate(off, length int64, keepSize bool) error {
	if off < 0 || length <= 0 {
		return fmt.Errorf("%s: allocate %d bytes at %d: %w", c.Name(), length, off, syscall.EINVAL)
	}
	end := off + length
	if end > c.lay.maxPlain || end < off {
		return fmt.Errorf("%s: allocate to %d: %w", c.Name(), end, syscall.EFBIG)
	}
	unlock, err := c.lockResize()
	if err != nil {
		return err
	}
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, size, err := c.sizeLocked()
	if err != nil {
		return err
	}
	newSize := size
	if !keepSize {
		newSize = max(size, end)
	}
	lay := c.lay
	first, last := off/lay.chunk, (end-1)/lay.chunk
	lo := lay.lineOff(first)
	if size > 0 && end > size {
		// The old last chunk becomes a full line when the file grows
		// into the range.
		oldLast, _ := lay.lastChunk(size)
		lo = min(lo, lay.lineOff(oldLast))
	}
	hi := lay.lineOff(last + 1)
	if newLast, _ := lay.lastChunk(max(newSize, 1)); last >= newLast {
		// The range reaches the last chunk: its line may be up to a
		// full last line (with its pad) after later writes.
		hi = lay.lineOff(last) + lastLineLen(lay.chunk)
		if !keepSize {
			hi = lay.backingSize(newSize)
		}
	}
	if size == 0 {
		lo = 0 // the header line too
	}
	if end <= size {
		hi = min(hi, s)
	}
	if err := reserve(c.b, lo, hi-lo); err != nil {
		return fmt.Errorf("%s: reserving %d backing bytes: %w", c.Name(), hi-lo, err)
	}
	if newSize == size {
		return nil
	}
	_, err = c.modify(s, size, newSize, nil, 0)
	return err
}

// writeBacking writes p at off and returns how many bytes were written
// even when it fails part way, which os.File.WriteAt does not (it drops
// the count of the pwrite that failed after a partial write).
func (c *Content) writeBacking(p []byte, off int64) (int, error) {
	fd := c.fd.raw
	if fd < 0 {
		return c.b.WriteAt(p, off)
	}
	n := 0
	for n < len(p) {
		m, err := unix.Pwrite(int(fd), p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "write", Path: "backing file", Err: err}
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

// reserver is a Backing that can reserve space without changing its
// size (tests' in-memory backings).
type reserver interface {
	Reserve(off, n int64) error
}

// reserve allocates backing bytes [off, off+n) without changing the
// file's size or content: fallocate(FALLOC_FL_KEEP_SIZE).
func reserve(b Backing, off, n int64) error {
	switch r := b.(type) {
	case reserver:
		return r.Reserve(off, n)
	case syscall.Conn:
		rc, err := r.SyscallConn()
		if err != nil {
			return err
		}
		var ferr error
		if err := rc.Control(func(fd uintptr) { ferr = fallocateKeepSize(fd, off, n) }); err != nil {
			return err
		}
		return ferr
	}
	return syscall.EOPNOTSUPP
}

// span is a run [lo, hi) of chunks written with one backing WriteAt.
type span struct{ lo, hi int64 }

// special is a chunk whose new plaintext is assembled in scratch space:
// partially overwritten, or rewritten with a new length.
type special struct {
	idx   int64
	plain []byte
}

// writePlan is one change of the file: from oldSize to newSize bytes with
// p written at off (p may be empty). It names the few chunks to reseal.
type writePlan struct {
	c                *Content
	lay              layout
	fk               *fileKey
	p                []byte
	off, end         int64
	oldS             int64
	oldSize, newSize int64
	oldLast, oldLen  int64 // oldLast is -1 for an empty file
	newLast, newLen  int64
	spans            [3]span
	nspans           int
	specials         [4]special
	nspecials        int
	// olds are the old lines fillSpecials read, kept to undo a failed
	// in-place write.
	olds  [4]segment
	nolds int
	// tailPlain and tailLine are the old last chunk's plaintext and
	// line from the Content's tail cache, if tailHit.
	tailPlain, tailLine []byte
	tailHit             bool
}

// oldBytes returns the old backing bytes [lo, hi) if fillSpecials read
// them.
func (w *writePlan) oldBytes(lo, hi int64) ([]byte, bool) {
	for _, o := range w.olds[:w.nolds] {
		if o.at <= lo && hi <= o.at+int64(len(o.b)) {
			return o.b[lo-o.at : hi-o.at], true
		}
	}
	return nil, false
}

// errorsIsNoSpace reports whether err says the backing is out of space
// or quota.
func errorsIsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// modify rewrites the file from size to newSize (> 0) with p at off. The
// caller holds the exclusive lock; s is the backing size. Afterwards the
// cached backing size is the new one, or unknown if the change failed.
// On failure, done counts the bytes of p that were written (see WriteAt)
// and the file is otherwise unchanged (see store).
func (c *Content) modify(s, size, newSize int64, p []byte, off int64) (done int64, err error) {
	defer func() {
		if err != nil {
			c.bsize.Store(-1)
			c.tail.fk = nil
		} else {
			c.bsize.Store(c.lay.backingSize(newSize))
		}
	}()
	w := writePlan{c: c, lay: c.lay, p: p, off: off, end: off + int64(len(p)),
		oldS: s, oldSize: size, newSize: newSize, oldLast: -1}
	fresh := size == 0
	if fresh {
		w.fk = c.newFileKey()
	} else {
		var err error
		if w.fk, err = c.loadKey(); err != nil {
			return 0, err
		}
		w.oldLast, w.oldLen = w.lay.lastChunk(size)
	}
	w.newLast, w.newLen = w.lay.lastChunk(newSize)
	w.plan()
	if !fresh {
		w.tailPlain, w.tailLine, w.tailHit = c.tailFor(w.fk, s, w.oldLast, w.oldLen)
	}

	// One buffer holds scratch plaintext, the old lines read back, and
	// the new lines (with the header line for a new file).
	var need int64
	for _, sp := range w.spans[:w.nspans] {
		need += w.spanBytes(sp, fresh)
	}
	slot := w.lay.chunk + aesBlock // room for Open's padding
	scratchLen := int64(w.nspecials) * slot
	oldLen := int64(w.nspecials) * (w.lay.line + aesBlock)
	bp := c.getBuf(scratchLen + oldLen + need)
	defer c.putBuf(bp)
	buf := *bp
	if err := w.fillSpecials(buf[:scratchLen], slot, buf[scratchLen:scratchLen+oldLen]); err != nil {
		return 0, err
	}
	out := buf[scratchLen+oldLen:]

	// Seal everything before the first backing write.
	var segs [len(w.spans) + 1]segment
	nsegs := 0
	if fresh && w.spans[0].lo != 0 {
		segs[0] = segment{at: 0, b: w.fk.line[:]}
		nsegs = 1
	}
	for _, sp := range w.spans[:w.nspans] {
		hdr := fresh && sp.lo == 0
		n := w.spanBytes(sp, fresh)
		at := w.sealSpan(sp, hdr, out[:n])
		segs[nsegs] = segment{at: at, b: out[:n]}
		nsegs++
		out = out[n:]
	}
	if done, err := w.store(segs[:nsegs]); err != nil {
		return done, fmt.Errorf("%s: %w", c.Name(), err)
	}
	c.keepTail(&w, segs[:nsegs], w.tailHit)
	if fresh {
		c.fk.Store(w.fk)
	}
	return 0, nil
}

// segment is sealed bytes to write at a backing offset.
type segment struct {
	at int64
	b  []byte
}

// store writes the sealed segments (in ascending order) so that a failed
// write, or a crash, between any two backing writes loses nothing that
// was there before:
//
//  1. Every byte past the old end of the backing file, first. The old
//     last line, still marked final, now ends the valid content and
//     readers reject the tail after it (a crash leaves the old content
//     plus a tail that fsck --repair cuts). A failure truncates the
//     file back to its old size.
//  2. The bytes inside the old file, in place, each run of lines after
//     its old bytes were copied to the undo journal (writeInPlace),
//     so that a crash that tears the write leaves lines a repair can
//     put back. Tokens are rewritten in
//     place over allocated bytes, which cannot fail for space; only
//     writing into a hole allocates. The old last line is the last
//     thing replaced, once everything after it is in place. On
//     failure, the line the write broke off in is put back (from the
//     old bytes fillSpecials read, or as NUL: ENOSPC can only strike
//     inside a hole, which was all NUL), as is every rewritten line
//     that is wrong for the old size; whole non-last chunks already
//     replaced keep their new content and count as written.
//  3. Cutting the file when it shrinks: the new last line, marked
//     final, was written in place in step 2, so until the cut the file
//     is the old one with a damaged tail.
func (w *writePlan) store(segs []segment) (done int64, err error) {
	c := w.c
	oldS, newS := w.oldS, w.lay.backingSize(w.newSize)
	grew := false
	for _, sg := range segs {
		if sg.at < oldS && c.jr != nil {
			continue // writeInPlace reads the old bytes first (readOld)
		}
		c.prefetchForWrite(sg.at, int64(len(sg.b)), oldS)
	}
	for _, sg := range segs {
		end := sg.at + int64(len(sg.b))
		if end <= oldS {
			continue
		}
		from := max(sg.at, oldS)
		grew = true
		if _, err := c.writeBacking(sg.b[from-sg.at:], from); err != nil {
			return 0, w.undoGrowth(err)
		}
	}
	for _, sg := range segs {
		if sg.at >= oldS {
			continue
		}
		b := sg.b[:min(int64(len(sg.b)), oldS-sg.at)]
		if n, err := w.writeInPlace(b, sg.at); err != nil {
			done := w.undoInPlace(sg.at, b, n, err)
			if grew {
				if terr := w.undoGrowth(nil); terr != nil {
					return 0, fmt.Errorf("%w (and restoring the old size: %w)", err, terr)
				}
			}
			return done, err
		}
	}
	cur := oldS
	if grew {
		cur = segs[len(segs)-1].at + int64(len(segs[len(segs)-1].b))
	}
	if cur != newS {
		if err := c.b.Truncate(newS); err != nil {
			if newS < oldS {
				// Still the old size: put the old last lines back.
				for _, sg := range segs {
					if sg.at < oldS {
						w.undoInPlace(sg.at, sg.b[:min(int64(len(sg.b)), oldS-sg.at)], 0, err)
					}
				}
			}
			return 0, err
		}
	}
	return 0, nil
}

// holeAfter reports whether backing bytes [from, to), the rest of the
// line a write broke off in, are all NUL: then the line was a hole (a
// token has no NUL byte) and NUL puts it back. On tmpfs and ext4 a full
// disk can only fail a write into a hole; on a copy-on-write filesystem
// it can fail a rewrite of a token too, whose old bytes are unknown.
func (w *writePlan) holeAfter(from, to int64) bool {
	if to <= from {
		return false
	}
	rest := make([]byte, to-from)
	if w.c.readFull(rest, from) != nil {
		return false
	}
	return allZero(rest)
}

// undoGrowth cuts the backing file back to its old size after a failed
// write (err, returned unchanged) past its old end.
func (w *writePlan) undoGrowth(err error) error {
	if terr := w.c.b.Truncate(w.oldS); terr != nil && err == nil {
		return terr
	}
	return err
}

// undoInPlace repairs the in-place write of b at at that wrote only its
// first n bytes and failed with err. With n == 0 it treats all of b as
// written (as after a failed cut) and puts back every line that is wrong
// for the old size. It returns how many bytes of p are now in the file
// as whole new chunks.
func (w *writePlan) undoInPlace(at int64, b []byte, n int64, err error) (done int64) {
	lay := w.lay
	brk := at + n // where the write broke off
	lineOf := func(x int64) int64 { return (x - int64(fileHeaderLen)) / lay.line }
	firstLine := lineOf(at)
	brokeIn := int64(-1)
	if n < int64(len(b)) && n > 0 {
		brokeIn = lineOf(brk)
	}
	if n == 0 {
		brk = at + int64(len(b)) // a full write to undo (failed cut)
	}
	noSpace := errorsIsNoSpace(err)
	for i := firstLine; lay.lineOff(i) < brk; i++ {
		lo, hi := max(lay.lineOff(i), at), min(lay.lineOff(i+1), brk)
		switch {
		case i == w.oldLast:
			hi = brk // the old last line may reach into the next line's place
		case i == w.newLast:
			hi = min(lay.lineOff(i)+lastLineLen(w.newLen), brk) // so may the new one
		}
		wrongForOld := i >= w.oldLast || i == w.newLast
		if i != brokeIn && !wrongForOld {
			continue
		}
		if old, ok := w.oldBytes(lo, hi); ok {
			w.c.b.WriteAt(old, lo)
		} else if i == brokeIn && noSpace && w.holeAfter(brk, min(lay.lineOff(i+1), w.oldS)) {
			w.c.b.WriteAt(make([]byte, hi-lo), lo)
		}
		if i == w.oldLast || i == w.newLast {
			break
		}
	}
	if brokeIn < 0 || len(w.p) == 0 {
		return 0
	}
	// Chunks firstLine..brokeIn-1 hold new content, except the old and
	// new last chunks, which were put back.
	if firstLine*lay.chunk > w.off {
		return 0
	}
	kept := min(brokeIn, w.newLast)
	if w.oldLast >= 0 {
		kept = min(kept, w.oldLast)
	}
	return max(min(kept*lay.chunk, w.end, w.oldSize)-w.off, 0)
}

// plan chooses the chunks to write: those the write covers; the old last
// chunk when the file grows past it (it becomes a full, non-final chunk);
// and the new last chunk when the size changes. Everything else is kept,
// and chunks between the old end and the new data stay holes.
func (w *writePlan) plan() {
	add := func(lo, hi int64) {
		if w.nspans > 0 {
			prev := &w.spans[w.nspans-1]
			if lo <= prev.hi {
				prev.hi = max(prev.hi, hi)
				return
			}
		}
		w.spans[w.nspans] = span{lo, hi}
		w.nspans++
	}
	grows := w.newSize > w.oldSize
	wfirst, wlast := int64(-1), int64(-1)
	if len(w.p) > 0 {
		wfirst, wlast = w.off/w.lay.chunk, (w.end-1)/w.lay.chunk
	}
	if grows && w.oldLast >= 0 && (wfirst < 0 || w.oldLast < wfirst) {
		add(w.oldLast, w.oldLast+1)
	}
	if wfirst >= 0 {
		add(wfirst, wlast+1)
	}
	if w.newSize != w.oldSize && (wfirst < 0 || w.newLast > wlast) {
		add(w.newLast, w.newLast+1)
	}
	// Every chunk in a span is inside the write range (so wholly in p)
	// except these candidates; they are kept sorted for fillSpecials.
	cands := [4]int64{w.oldLast, wfirst, wlast, w.newLast}
	slices.Sort(cands[:])
	for _, i := range cands {
		if i >= 0 && w.inSpans(i) && !w.direct(i) && w.specialIndex(i) < 0 {
			w.specials[w.nspecials] = special{idx: i}
			w.nspecials++
		}
	}
}

func (w *writePlan) inSpans(i int64) bool {
	for _, sp := range w.spans[:w.nspans] {
		if sp.lo <= i && i < sp.hi {
			return true
		}
	}
	return false
}

// direct reports whether chunk i's new plaintext lies wholly in p.
func (w *writePlan) direct(i int64) bool {
	cs := i * w.lay.chunk
	return len(w.p) > 0 && w.off <= cs && cs+w.chunkLen(i) <= w.end
}

func (w *writePlan) specialIndex(i int64) int {
	for k := range w.nspecials {
		if w.specials[k].idx == i {
			return k
		}
	}
	return -1
}

// chunkLen is chunk i's plaintext length after the change.
func (w *writePlan) chunkLen(i int64) int64 {
	if i == w.newLast {
		return w.newLen
	}
	return w.lay.chunk
}

// oldChunkLen is chunk i's plaintext length before the change (0 if the
// file did not reach it).
func (w *writePlan) oldChunkLen(i int64) int64 {
	switch {
	case i < w.oldLast:
		return w.lay.chunk
	case i == w.oldLast:
		return w.oldLen
	}
	return 0
}

// oldLineEnd is where chunk i's line ended before the change.
func (w *writePlan) oldLineEnd(i int64) int64 {
	if i == w.oldLast {
		return w.oldS
	}
	return w.lay.lineOff(i + 1)
}

// lineLen is chunk i's line length after the change.
func (w *writePlan) lineLen(i int64) int64 {
	if i == w.newLast {
		return lastLineLen(w.newLen)
	}
	return w.lay.line
}

// spanBytes is what sealSpan writes for sp: the lines, the header line
// when a new file's span starts at chunk 0, and the NUL bytes that erase
// the tail of an old full last line reaching into a chunk left as a hole.
func (w *writePlan) spanBytes(sp span, fresh bool) int64 {
	n := (sp.hi-1-sp.lo)*w.lay.line + w.lineLen(sp.hi-1)
	if fresh && sp.lo == 0 {
		n += int64(fileHeaderLen)
	}
	return n + w.zeroTail(sp)
}

func (w *writePlan) zeroTail(sp span) int64 {
	i := sp.hi - 1
	if i != w.oldLast || i == w.newLast {
		return 0
	}
	return max(w.oldS-w.lay.lineOff(i+1), 0)
}

// fillSpecials assembles the plaintext of every special chunk in scratch:
// the old plaintext where the change keeps it (read back with one ReadAt
// per run of adjacent chunks), zeros where the file grows, then p.
func (w *writePlan) fillSpecials(scratch []byte, slot int64, oldBuf []byte) error {
	c := w.c
	var wk *chunkWorker
	defer func() {
		if wk != nil {
			c.putWorker(w.fk, wk)
		}
	}()
	for k := 0; k < w.nspecials; {
		// Group chunks k..j-1 that need old data and sit next to each other.
		j := k
		for j < w.nspecials && w.needsOld(w.specials[j].idx) &&
			(j == k || w.specials[j].idx == w.specials[j-1].idx+1) {
			j++
		}
		if j == k {
			w.assemble(k, scratch[int64(k)*slot:int64(k+1)*slot], false)
			k++
			continue
		}
		a, b := w.specials[k].idx, w.specials[j-1].idx
		if w.tailHit && a == w.oldLast && b == a {
			// The old last chunk as the previous change wrote it.
			lines := oldBuf[:copy(oldBuf, w.tailLine)]
			w.olds[w.nolds] = segment{at: w.lay.lineOff(a), b: lines}
			w.nolds++
			oldBuf = oldBuf[len(lines):]
			sc := scratch[int64(k)*slot : int64(k+1)*slot]
			copy(sc, w.tailPlain)
			w.assemble(k, sc, true)
			k++
			continue
		}
		start := w.lay.lineOff(a)
		end := w.oldLineEnd(b)
		if b == w.newLast && b < w.oldLast {
			// A new last line of C bytes reaches 15 bytes into the
			// next line's place: keep those old bytes too, for undo.
			end = min(max(end, w.lay.lineOff(b)+lastLineLen(w.newLen)), w.oldS)
		}
		lines := oldBuf[:end-start]
		if err := c.readFull(lines, start); err != nil {
			return err
		}
		w.olds[w.nolds] = segment{at: start, b: lines}
		w.nolds++
		oldBuf = oldBuf[len(lines):]
		if wk == nil {
			wk = c.worker(w.fk)
		}
		for ; k < j; k++ {
			i := w.specials[k].idx
			at := (i - a) * w.lay.line
			line := lines[at:]
			if i != w.oldLast {
				line = lines[at : at+w.lay.line]
			}
			sc := scratch[int64(k)*slot : int64(k+1)*slot]
			if err := c.openLine(wk.cd, i, line, i == w.oldLast, sc[:w.oldChunkLen(i)]); err != nil {
				return err
			}
			w.assemble(k, sc, true)
		}
	}
	return nil
}

// needsOld reports whether special chunk i keeps some old bytes.
func (w *writePlan) needsOld(i int64) bool {
	keep := min(w.oldChunkLen(i), w.chunkLen(i))
	if keep == 0 {
		return false
	}
	cs := i * w.lay.chunk
	return len(w.p) == 0 || w.off > cs || w.end < cs+keep
}

// assemble finishes special k in sc (which holds the old plaintext if
// haveOld): zero what is new, overlay p.
func (w *writePlan) assemble(k int, sc []byte, haveOld bool) {
	i := w.specials[k].idx
	n := w.chunkLen(i)
	from := int64(0)
	if haveOld {
		from = min(w.oldChunkLen(i), n)
	}
	clear(sc[from:n])
	cs := i * w.lay.chunk
	if lo, hi := max(w.off, cs), min(w.end, cs+n); len(w.p) > 0 && lo < hi {
		copy(sc[lo-cs:hi-cs], w.p[lo-w.off:hi-w.off])
	}
	w.specials[k].plain = sc[:n]
}

// plain is chunk i's new plaintext.
func (w *writePlan) plain(i int64) []byte {
	if k := w.specialIndex(i); k >= 0 {
		return w.specials[k].plain
	}
	cs := i * w.lay.chunk
	return w.p[cs-w.off : cs-w.off+w.chunkLen(i)]
}

// sealSpan seals the chunks of sp into out (exactly spanBytes long) and
// returns the backing offset to write it at.
func (w *writePlan) sealSpan(sp span, hdr bool, out []byte) int64 {
	at := w.lay.lineOff(sp.lo)
	lines := out
	if hdr {
		copy(out, w.fk.line[:])
		at, lines = 0, out[fileHeaderLen:]
	}
	if z := w.zeroTail(sp); z > 0 {
		clear(lines[int64(len(lines))-z:])
	}
	if serialChunks(sp.hi - sp.lo) {
		wk := w.c.worker(w.fk)
		for i := sp.lo; i < sp.hi; {
			i += w.sealChunks(wk, lines, sp.lo, i, sp.hi)
		}
		w.c.putWorker(w.fk, wk)
		return at
	}
	wc := *w
	w.c.forChunks(w.fk, sp.lo, sp.hi, func(wk *chunkWorker, i, runEnd int64) (int64, error) {
		return wc.sealChunks(wk, lines, sp.lo, i, runEnd), nil
	})
	return at
}

// sealChunks seals chunk i into its line of lines, which start with
// chunk lo's, and returns 1; or, when chunks i to i+fernet.Batch-1 are
// before end and all full chunks straight from p, as a long write's are
// (the new last chunk too if full), seals them together
// (fernet.SealBatch) and returns fernet.Batch.
func (w *writePlan) sealChunks(wk *chunkWorker, lines []byte, lo, i, end int64) int64 {
	const n = fernet.Batch
	if end-i < n || !w.direct(i) || !w.direct(i+n-1) || w.chunkLen(i+n-1) != w.lay.chunk {
		w.sealChunk(wk, lines, lo, i)
		return 1
	}
	// Chunks i to i+n-1 all lie in p when the first and last do (a
	// chunk in p is never special), and are full chunks when the last
	// one is; the new last chunk may be among them.
	var dst, plain, iv [n][]byte
	var ts [n]uint64
	for k := range int64(n) {
		dst[k], plain[k], ts[k], iv[k] = w.lineParts(lines, lo, i+k)
	}
	w.c.lendBatchRoom(wk)
	wk.cd.SealBatch(&dst, &plain, &ts, &iv)
	return n
}

// sealChunk seals chunk i into its line of lines, which start with
// chunk lo's.
func (w *writePlan) sealChunk(wk *chunkWorker, lines []byte, lo, i int64) {
	dst, plain, ts, iv := w.lineParts(lines, lo, i)
	wk.cd.Seal(dst, plain, ts, iv)
}

// lineParts prepares chunk i's line in lines (which start with chunk
// lo's) for sealing, alone or in a batch: it pads the line after the
// token with newlines and returns the token's room, the plaintext, the
// timestamp (with the final bit on the new last chunk) and the IV the
// vault fixes, if any.
func (w *writePlan) lineParts(lines []byte, lo, i int64) (dst, plain []byte, ts uint64, iv []byte) {
	line := lines[(i-lo)*w.lay.line:]
	plain = w.plain(i)
	ts = uint64(i)
	if i == w.newLast {
		ts |= finalBit
	}
	if w.c.iv != nil {
		iv = make([]byte, aesBlock)
		w.c.iv(i, iv)
	}
	tl := fernet.TokenLen(len(plain))
	nl := line[tl:w.lineLen(i)]
	for k := range nl {
		nl[k] = '\n'
	}
	return line[:0:tl], plain, ts, iv
}
