package vault

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// Journals are the leftover journals of BACKING (those of mounts that
// ended without removing theirs: a crash), locked while held so that no
// mount that still lives has its journal among them.
type Journals struct {
	files []*os.File
	// Paths are the journals read, Live those skipped because a live
	// mount holds them.
	Paths, Live []string
	recs        map[[fileIDLen]byte][]JournalRecord
}

// OpenJournals reads every leftover journal in BACKING. A journal that a
// live mount holds is skipped (listed in Live); one that is not a
// regular file or is larger than a journal can be is an error wrapping
// ErrJournal (reported, left alone), as is one that cannot be read. The
// records of the others are kept, newest first, until Close. writable
// asks for descriptors that Remove can use (fsck --repair).
func (v *Vault) OpenJournals(writable bool) (*Journals, []error) {
	js := &Journals{recs: map[[fileIDLen]byte][]JournalRecord{}}
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		return js, []error{err}
	}
	slot := journalSlotSize(v.ChunkSize())
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), JournalPrefix) || v.JournalPath() == filepath.Join(v.dir, e.Name()) {
			continue
		}
		path := filepath.Join(v.dir, e.Name())
		recs, f, live, err := readJournal(path, slot, writable)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("journal %q: %w", path, err))
		case live:
			js.Live = append(js.Live, path)
		default:
			js.files = append(js.files, f)
			js.Paths = append(js.Paths, path)
			for _, r := range recs {
				js.recs[r.FileID] = append(js.recs[r.FileID], r)
			}
		}
	}
	for id, rs := range js.recs {
		slices.SortFunc(rs, func(a, b JournalRecord) int { return cmp.Compare(b.Seq, a.Seq) })
		js.recs[id] = rs
	}
	return js, errs
}

// readJournal opens, locks and parses one journal file.
func readJournal(path string, slot int64, writable bool) (recs []JournalRecord, f *os.File, live bool, err error) {
	flags := os.O_RDONLY
	if writable {
		flags = os.O_RDWR
	}
	f, err = os.OpenFile(path, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, false, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrJournal)
	}
	if err == nil && fi.Size() > journalMaxSlots*slot {
		err = fmt.Errorf("%w: %d bytes, more than %d slots of %d", ErrJournal, fi.Size(), journalMaxSlots, slot)
	}
	if err == nil {
		if lerr := lockJournalAs(f, writable); lerr != nil {
			f.Close()
			return nil, nil, true, nil
		}
		b := make([]byte, fi.Size())
		var n int
		n, err = f.ReadAt(b, 0)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		recs = parseJournal(b[:n], slot)
	}
	if err != nil {
		f.Close()
		return nil, nil, false, err
	}
	return recs, f, false, nil
}

// Records is how many records the journals hold.
func (js *Journals) Records() int {
	n := 0
	for _, rs := range js.recs {
		n += len(rs)
	}
	return n
}

// Close releases the journals (and their locks).
func (js *Journals) Close() {
	for _, f := range js.files {
		f.Close()
	}
	js.files = nil
}

// Remove deletes the journals, once every torn line they could restore
// was put back (fsck --repair), and closes them.
func (js *Journals) Remove() error {
	var errs []error
	for _, p := range js.Paths {
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	js.Close()
	return errors.Join(errs...)
}

// RestoreTorn puts back lines of this file that a crash tore, from the
// journals: for each line that a record covers, whose current token does
// not verify and that is not a hole, it takes the line as it would be
// with the record's old bytes, and if that token verifies as this
// file's chunk at that index (final or not), it writes the record's
// bytes of that line back (the token and its newlines); a line the
// record holds as a hole (all NUL) is put back as one if it is not the
// last line. The newest
// record wins. Nothing that verifies is ever overwritten. With write
// false it only reports the chunks it would put back (fsck without
// --repair). The file may still need RepairTail afterwards (a torn old
// last line of a growing file is back, followed by the new lines).
func (c *Content) RestoreTorn(js *Journals, write bool) (chunks []int64, err error) {
	if js == nil || len(js.recs) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := c.b.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	s := fi.Size()
	if s < int64(fileHeaderLen) {
		return nil, nil
	}
	var hdr [fileHeaderLen]byte
	if err := c.readFull(hdr[:], 0); err != nil {
		return nil, err
	}
	fk, err := c.parseFileHeader(hdr[:], nil)
	if err != nil {
		return nil, nil // no file ID: no record can be this file's
	}
	defer func() {
		c.bsize.Store(-1)
		c.fk.Store(nil)
	}()
	var id [fileIDLen]byte
	copy(id[:], fileIDOf(fk))
	recs := js.recs[id]
	if len(recs) == 0 {
		return nil, nil
	}
	wk := c.worker(fk)
	defer c.putWorker(fk, wk)
	lay := c.lay
	ext := lay.line + aesBlock - 1 // the longest line: a last line of C bytes
	buf := make([]byte, ext)
	cand := make([]byte, ext)
	done := map[int64]bool{}
	for _, r := range recs {
		rlo, rhi := r.Offset, r.Offset+int64(len(r.Old))
		for i := (rlo - int64(fileHeaderLen)) / lay.line; lay.lineOff(i) < min(rhi, s); i++ {
			lo := lay.lineOff(i)
			if done[i] {
				continue
			}
			cur := buf[:min(s-lo, ext)]
			if err := c.readFull(cur, lo); err != nil {
				return chunks, err
			}
			if c.wholeLine(wk, i, cur) {
				continue
			}
			if allZero(cur[:min(int64(len(cur)), lay.line)]) {
				continue // a hole
			}
			clear(cand)
			copy(cand, cur)
			copy(cand[max(rlo, lo)-lo:], r.Old[max(rlo, lo)-rlo:min(rhi, lo+ext)-rlo])
			extent, ok := c.verifyLine(wk, i, cand)
			if !ok && rlo <= lo && lo+lay.line <= rhi && lo+lay.line < s && allZero(r.Old[lo-rlo:lo+lay.line-rlo]) {
				// The line was a hole (a non-last chunk, with lines
				// after it) that the torn write was filling.
				extent, ok = lay.line, true
			}
			if !ok {
				continue
			}
			wlo, whi := max(rlo, lo), min(rhi, lo+extent)
			if write {
				if _, err := c.b.WriteAt(r.Old[wlo-rlo:whi-rlo], wlo); err != nil {
					return chunks, fmt.Errorf("%s: %w", c.Name(), err)
				}
			}
			done[i] = true
			chunks = append(chunks, i)
		}
	}
	slices.Sort(chunks)
	if write && len(chunks) > 0 {
		if sy, ok := c.b.(interface{ Sync() error }); ok {
			if err := sy.Sync(); err != nil {
				return chunks, fmt.Errorf("%s: %w", c.Name(), err)
			}
		}
	}
	return chunks, nil
}

// wholeLine reports whether cur (the bytes from chunk i's line on, as
// many as the file has, up to the longest line) starts with a token of
// chunk i and, for a non-final chunk, the newline that ends its line: a
// line that needs nothing put back. (A final token whose newlines were
// cut is the torn tail RepairTail finishes.)
func (c *Content) wholeLine(wk *chunkWorker, i int64, cur []byte) bool {
	line := make([]byte, len(cur), c.lay.line+aesBlock-1)
	copy(line, cur)
	line = line[:cap(line)]
	n, ok := c.verifyLine(wk, i, line)
	return ok && (n != c.lay.line || (int64(len(cur)) >= n && cur[n-1] == '\n'))
}

// verifyLine reports whether line (a line's bytes, room for the
// longest) starts with a token of chunk i of this file, and the length
// of that line: F for a non-final chunk of C bytes, the token and its
// newlines for a final one.
func (c *Content) verifyLine(wk *chunkWorker, i int64, line []byte) (int64, bool) {
	tok := line[:c.lay.tok]
	if k := bytes.IndexByte(tok, '\n'); k >= 0 {
		tok = tok[:k]
	}
	if len(tok) == 0 {
		return 0, false
	}
	out, ts, err := wk.cd.Open(wk.scratch[:0], tok)
	L := int64(len(out))
	final := ts&finalBit != 0
	if err != nil || ts&^finalBit != uint64(i) || L < 1 || L > c.lay.chunk || (!final && L != c.lay.chunk) {
		return 0, false
	}
	if final {
		return int64(fernet.TokenLen(int(L))) + padLen(L), true
	}
	return c.lay.line, true
}

// fileIDOf is the raw file ID of a file key.
func fileIDOf(fk *fileKey) []byte {
	var id [fileIDLen]byte
	hex.Decode(id[:], fk.line[len(fileMagic):fileHeaderLen-1])
	return id[:]
}
