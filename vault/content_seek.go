package vault

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SeekData is lseek(SEEK_DATA) in plaintext offsets: the first offset at
// or after off that is not in a hole. Holes are whole chunks whose backing
// lines are holes in the backing file, so cp --sparse, tar and backup
// tools skip them. A backing file that cannot report holes is all data.
// Past the end it returns an error wrapping ENXIO, as lseek does.
func (c *Content) SeekData(off int64) (int64, error) {
	return c.seek(off, true)
}

// SeekHole is lseek(SEEK_HOLE) in plaintext offsets: the first offset at
// or after off that starts a hole, or the file size (the implicit hole at
// the end). Holes are reported at chunk granularity and only where the
// backing file reports them; data is never reported as a hole.
func (c *Content) SeekHole(off int64) (int64, error) {
	return c.seek(off, false)
}

func (c *Content) seek(off int64, data bool) (int64, error) {
	unlock, err := c.lockScan()
	if err != nil {
		return 0, err
	}
	defer unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, size, err := c.sizeLocked()
	if err != nil {
		return 0, err
	}
	if off < 0 || off >= size {
		return 0, fmt.Errorf("%s: seek to %d of %d bytes: %w", c.Name(), off, size, unix.ENXIO)
	}
	f, ok := c.b.(*os.File)
	if !ok {
		if data {
			return off, nil
		}
		return size, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.Name(), err)
	}
	lay := c.lay
	lastIdx, _ := lay.lastChunk(size)
	var res int64
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		// lseek returns the backing offset, or -1 if there is no such
		// region after at.
		lseek := func(at int64, whence int) int64 {
			r, err := unix.Seek(int(fd), at, whence)
			if errors.Is(err, unix.ENXIO) {
				return -1
			}
			if err != nil && serr == nil {
				serr = err
			}
			return r
		}
		// isHole reports whether chunk j is a hole: its line starts with
		// NUL (the format allows nothing else there but an all-NUL line).
		isHole := func(j int64) bool {
			var b [1]byte
			n, err := unix.Pread(int(fd), b[:], lay.lineOff(j))
			if err != nil && serr == nil {
				serr = err
			}
			return n == 1 && b[0] == 0
		}
		// chunkAt is the chunk whose line holds backing offset b.
		chunkAt := func(b int64) int64 {
			return max(b-int64(fileHeaderLen), 0) / lay.line
		}
		// Backing holes only ever lie in hole chunks' lines (tokens are
		// written whole), so lseek skips runs of data or holes and one
		// byte tells which kind the chunk at the boundary is. Chunks
		// whose lines are allocated NUL bytes count as data, which is
		// what lseek allows.
		i := off / lay.chunk
		if data {
			// The answer is never a hole chunk: a caller that copies
			// from SEEK_DATA to SEEK_HOLE must move forward each time.
			// Only the last chunk can end the search, and it must be
			// data; a hole there (punched, or zeroed by a torn write)
			// is corruption, reported instead of an offset that
			// SEEK_HOLE would answer with the same offset.
			for ; i < lastIdx && serr == nil; i++ {
				d := lseek(lay.lineOff(i), unix.SEEK_DATA)
				if serr != nil {
					return
				}
				if d < 0 {
					break // no data up to the end
				}
				i = min(chunkAt(d), lastIdx)
				if i == lastIdx {
					break
				}
				if !isHole(i) {
					res = max(off, i*lay.chunk)
					return
				}
			}
			if serr == nil && isHole(lastIdx) {
				serr = c.chunkErr(lastIdx, nil, "last chunk is a hole")
				return
			}
			res = max(off, lastIdx*lay.chunk)
			return
		}
		for res = size; i < lastIdx && serr == nil; i++ {
			h := lseek(lay.lineOff(i), unix.SEEK_HOLE)
			if h < 0 || serr != nil {
				return
			}
			i = chunkAt(h)
			if i >= lastIdx {
				return
			}
			if isHole(i) {
				res = max(off, i*lay.chunk)
				return
			}
		}
	})
	if cerr != nil {
		return 0, fmt.Errorf("%s: %w", c.Name(), cerr)
	}
	if errors.Is(serr, ErrCorrupt) {
		return 0, serr
	}
	if serr != nil {
		return 0, fmt.Errorf("%s: lseek: %w", c.Name(), serr)
	}
	return res, nil
}
