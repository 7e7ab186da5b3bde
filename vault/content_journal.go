package vault

// writeInPlace writes b, the new bytes of lines inside the old file, at
// at, in ascending order, and returns how many bytes from at are
// written (all of b unless it fails). With a journal, it writes in
// pieces of whole lines that fit a slot, each after its old bytes were
// saved in the journal, so that kill -9 in the middle of a piece leaves
// torn lines whose old copy fsck --repair can put back (FORMAT.md,
// "Undo journal").
//
// When the file grows and the old last line is a full chunk, that line
// reaches 15 bytes (its pad) into the next line's place: those bytes are
// written first, then the rest of the piece. The old last token stays
// whole until its own line is rewritten, so a crash in between leaves
// the old final token with a damaged pad, which the repair of a torn
// tail handles, and never a new non-final line followed by a torn one.
func (w *writePlan) writeInPlace(b []byte, at int64) (int64, error) {
	c := w.c
	j := c.jr
	if j == nil {
		n, err := c.writeBacking(b, at)
		return int64(n), err
	}
	id := fileIDOf(w.fk)
	lay := w.lay
	maxPiece := j.payload()
	rp := c.getBuf(j.slotSize)
	defer c.putBuf(rp)
	end := at + int64(len(b))
	for pa := at; pa < end; {
		pe := end
		if pe-pa > maxPiece {
			// End the piece at the last line boundary that fits.
			pe = lay.lineOff((pa + maxPiece - int64(fileHeaderLen)) / lay.line)
		}
		old, ok := w.oldBytes(pa, pe)
		if !ok {
			// Read straight into the record's payload, so that
			// begin has nothing to copy.
			old = (*rp)[journalHeaderLen : int64(journalHeaderLen)+pe-pa]
			if err := c.readOld(old, pa); err != nil {
				return pa - at, err
			}
		}
		slot, _ := j.begin(id, pa, old, *rp)
		split := pe
		if w.newSize > w.oldSize && w.oldLast >= 0 && pe == w.oldS {
			if e := lay.lineOff(w.oldLast + 1); pa < e && e < pe {
				split = e
			}
		}
		if split < pe {
			if _, err := c.writeBacking(b[split-at:pe-at], split); err != nil {
				c.b.WriteAt(old[split-pa:], split)
				j.end(slot)
				return pa - at, err
			}
		}
		n, err := c.writeBacking(b[pa-at:split-at], pa)
		if err != nil && split < pe {
			c.b.WriteAt(old[split-pa:], split) // the pad, as undoInPlace expects
		}
		j.end(slot)
		if err != nil {
			return pa - at + int64(n), err
		}
		pa = pe
	}
	return end - at, nil
}
