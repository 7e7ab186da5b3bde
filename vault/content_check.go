package vault

import "fmt"

// checkBatchBytes bounds the plaintext one Check batch reads at once.
const checkBatchBytes = 1 << 20

// Check verifies every chunk of the file, for fsck: the backing size, the
// header line (read from disk, not the cache), and each chunk's token,
// position and final mark. report (if not nil) is called for each problem
// in file order, with chunk -1 for the file as a whole (size or header);
// Check goes on past bad chunks. The result is nil for a sound file, else
// a summary error wrapping ErrCorrupt (or the I/O error that stopped it).
func (c *Content) Check(report func(chunk int64, err error)) error {
	if report == nil {
		report = func(int64, error) {}
	}
	unlock, err := c.lockScan()
	if err != nil {
		report(-1, err)
		return err
	}
	defer unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, size, err := c.sizeLocked()
	if err != nil {
		report(-1, err)
		return err
	}
	if size == 0 {
		return nil
	}
	var hdr [fileHeaderLen]byte
	if err := c.readFull(hdr[:], 0); err != nil {
		report(-1, err)
		return err
	}
	fk, err := c.parseFileHeader(hdr[:], c.fk.Load())
	if err != nil {
		report(-1, err)
		return err
	}
	lay := c.lay
	lastIdx, lastLen := lay.lastChunk(size)
	batch := max(checkBatchBytes/lay.chunk, 1)
	n := min(batch, lastIdx+1)
	bp := c.getBuf(n*lay.line + aesBlock)
	defer c.putBuf(bp)
	lineBuf := *bp
	errs := make([]error, n)
	bad := 0
	for lo := int64(0); lo <= lastIdx; lo += batch {
		hi := min(lo+batch, lastIdx+1)
		stop := s
		if hi <= lastIdx {
			stop = lay.lineOff(hi)
		}
		lines := lineBuf[:stop-lay.lineOff(lo)]
		if err := c.readFull(lines, lay.lineOff(lo)); err != nil {
			report(-1, err)
			return err
		}
		c.forChunks(fk, lo, hi, func(wk *chunkWorker, i, runEnd int64) (int64, error) {
			k := i - lo
			line, clen := lines[k*lay.line:], lastLen
			if i != lastIdx {
				line, clen = lines[k*lay.line:(k+1)*lay.line], lay.chunk
			}
			errs[k] = c.openLine(wk.cd, i, line, i == lastIdx, wk.scratch[:clen])
			return 1, nil
		})
		for k := range hi - lo {
			if errs[k] != nil {
				bad++
				report(lo+k, errs[k])
				errs[k] = nil
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%w: %s: %d of %d chunks corrupt", ErrCorrupt, c.Name(), bad, lastIdx+1)
	}
	return nil
}
