package vault

// tailCache is the file's last chunk as this Content last wrote it: its
// plaintext and its line (token and pad newlines). An append reseals
// the old last chunk as a full, non-final chunk and saves its old line
// in the undo journal first; with the cache it does both without
// reading the line back or opening its token, as tar's 10 KiB writes
// would for every write after a file's first.
//
// fernetfs is the only writer of the backing file (as for Content's
// cached size), so the cache holds the backing bytes as long as the
// file key and backing size it was made with are the current ones.
// Everything else that changes the file drops one of those: a repair,
// a shared-storage lock and truncation to zero drop the cached key,
// and a change that fails drops the cache itself.
type tailCache struct {
	fk  *fileKey // nil: empty
	s   int64    // backing size it was made at
	idx int64
	// buf holds the plaintext (room for a chunk) and then the line.
	buf           *[]byte
	nPlain, nLine int64
}

// tailFor returns the cached plaintext and line of chunk idx (nPlain
// bytes long, the file's last) if the cache holds it for fk at backing
// size s.
func (c *Content) tailFor(fk *fileKey, s, idx, nPlain int64) (plain, line []byte, ok bool) {
	t := &c.tail
	if t.fk == nil || t.fk != fk || t.s != s || t.idx != idx || t.nPlain != nPlain {
		return nil, nil, false
	}
	b := *t.buf
	return b[:t.nPlain], b[c.lay.chunk : c.lay.chunk+t.nLine], true
}

// keepTail fills the cache after a successful change (c.mu held): the
// new last chunk's plaintext and its line, which segs (the sealed bytes
// just written) hold when the change rewrote it. A change that left the
// last line alone (same size, a write before the last chunk) keeps a
// cache that was valid before it (hit).
func (c *Content) keepTail(w *writePlan, segs []segment, hit bool) {
	t := &c.tail
	if c.sh.on {
		return // every operation reloads the key: the cache would never hit
	}
	newS := w.lay.backingSize(w.newSize)
	lo := w.lay.lineOff(w.newLast)
	n := lastLineLen(w.newLen)
	for _, sg := range segs {
		if sg.at > lo || lo+n > sg.at+int64(len(sg.b)) {
			continue
		}
		if t.buf == nil {
			t.buf = c.getBuf(w.lay.chunk + lastLineLen(w.lay.chunk))
		}
		b := *t.buf
		copy(b[:w.newLen], w.plain(w.newLast))
		copy(b[w.lay.chunk:], sg.b[lo-sg.at:lo-sg.at+n])
		t.fk, t.s, t.idx, t.nPlain, t.nLine = w.fk, newS, w.newLast, w.newLen, n
		return
	}
	if !hit || newS != w.oldS {
		t.fk = nil
	}
}

// dropTail empties the cache and gives its buffer back (c.mu held).
func (c *Content) dropTail() {
	if c.tail.buf != nil {
		c.putBuf(c.tail.buf)
	}
	c.tail = tailCache{}
}
