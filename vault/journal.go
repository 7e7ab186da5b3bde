package vault

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The undo journal (FORMAT.md, "Undo journal"): before a writer rewrites
// lines of a content file in place, it copies their old bytes into a
// slot of its mount's journal file. kill -9 can stop a positional write
// between two pages, leaving a line that is part new token and part old
// one; the copy lets fsck --repair put the old line back. The copy is
// Fernet tokens under the file's own key and bound to their chunk
// index, so a copy is used only where it verifies as the line it
// replaces: the journal needs no key and no MAC of its own.
const (
	// JournalPrefix starts the name of every journal file in BACKING.
	JournalPrefix = "fernetfs.journal."
	// journalMagic starts every record.
	journalMagic = "FFSJRNL1"
	// journalHeaderLen is a record's fixed part: magic, sequence
	// number, file ID, backing offset, length, CRC-32C.
	journalHeaderLen = len(journalMagic) + 8 + fileIDLen + 8 + 4 + 4
	// journalSlots is how many slots a mount's journal has: the most
	// in-place writes journaled at once; more wait for a slot.
	journalSlots = 4
	// journalMaxSlots bounds what a reader parses: a journal file
	// larger than this many slots is not one fernetfs wrote.
	journalMaxSlots = 64
	// journalMinPayload is the smallest slot payload: a 4 KiB chunk
	// size gets room for eleven lines.
	journalMinPayload = 64 << 10
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// journalSlotSize is the slot size for a vault of chunk size C: room for
// the record header and two full lines plus a pad (a new last line of C
// bytes reaches 15 bytes into the next line's place), at least
// journalMinPayload, rounded up to 4 KiB.
func journalSlotSize(chunk int) int64 {
	lay := newLayout(chunk)
	n := max(2*lay.line+aesBlock, journalMinPayload) + int64(journalHeaderLen)
	return (n + 4095) &^ 4095
}

// JournalRecord is one parsed record: the old bytes of backing bytes
// [Offset, Offset+len(Old)) of the content file with ID FileID, saved
// before an in-place write. Seq orders the records of all journals:
// the newest copy of a line is the one to use.
type JournalRecord struct {
	Seq    uint64
	FileID [fileIDLen]byte
	Offset int64
	Old    []byte
}

// ErrJournal: a journal file is not what FORMAT.md says (too large, not
// a regular file); it is left alone.
var ErrJournal = errors.New("malformed journal file")

// encodeJournalRecord writes a record into dst (at least
// journalHeaderLen+len(old) bytes) and returns its length. old may
// already be in place (dst[journalHeaderLen:]), read there by the
// writer to spare a copy.
func encodeJournalRecord(dst []byte, seq uint64, id []byte, off int64, old []byte) int {
	copy(dst, journalMagic)
	p := len(journalMagic)
	binary.BigEndian.PutUint64(dst[p:], seq)
	p += 8
	copy(dst[p:], id)
	p += fileIDLen
	binary.BigEndian.PutUint64(dst[p:], uint64(off))
	p += 8
	binary.BigEndian.PutUint32(dst[p:], uint32(len(old)))
	p += 4
	if len(old) > 0 && &dst[p+4] != &old[0] { // old may be read in place
		copy(dst[p+4:], old)
	}
	sum := crc32.Update(crc32.Checksum(dst[:p], crc32c), crc32c, old)
	binary.BigEndian.PutUint32(dst[p:], sum)
	return journalHeaderLen + len(old)
}

// parseJournalRecord parses the record at the start of slot (the slot's
// bytes, as many as the file holds). ok is false for an empty slot and
// for anything that is not exactly a record (a torn record, junk): such
// a slot holds nothing to use. The result's Old aliases slot.
func parseJournalRecord(slot []byte) (r JournalRecord, ok bool) {
	if len(slot) < journalHeaderLen || string(slot[:len(journalMagic)]) != journalMagic {
		return r, false
	}
	p := len(journalMagic)
	r.Seq = binary.BigEndian.Uint64(slot[p:])
	p += 8
	copy(r.FileID[:], slot[p:])
	p += fileIDLen
	off := binary.BigEndian.Uint64(slot[p:])
	p += 8
	n := int64(binary.BigEndian.Uint32(slot[p:]))
	p += 4
	sum := binary.BigEndian.Uint32(slot[p:])
	if off < uint64(fileHeaderLen) || off > 1<<62 || n < 1 || n > int64(len(slot)-journalHeaderLen) {
		return r, false
	}
	old := slot[journalHeaderLen : int64(journalHeaderLen)+n]
	if crc32.Update(crc32.Checksum(slot[:p], crc32c), crc32c, old) != sum {
		return r, false
	}
	r.Offset, r.Old = int64(off), old
	return r, true
}

// parseJournal parses a whole journal file's bytes: one record per slot
// of slotSize bytes (the last slot may be cut short).
func parseJournal(b []byte, slotSize int64) []JournalRecord {
	var recs []JournalRecord
	for at := int64(0); at < int64(len(b)); at += slotSize {
		if r, ok := parseJournalRecord(b[at:min(at+slotSize, int64(len(b)))]); ok {
			recs = append(recs, r)
		}
	}
	return recs
}

// Journal is a live mount's undo journal file. Its slots are reused
// round-robin; a slot is busy from the record's write until the
// in-place write it covers has returned, and is not reused meanwhile.
type Journal struct {
	mu       sync.Mutex
	free     *sync.Cond
	dir      string
	f        *os.File // nil until the first record
	path     string
	slotSize int64
	busy     [journalSlots]bool
	// held describes each slot's record (zero: none), so a write that
	// goes on without a copy can void older copies of its lines.
	held   [journalSlots]journalSpan
	next   int
	seq    uint64
	closed bool
	// leftover holds the leftover journals of killed mounts that this
	// mount adopted (AdoptLeftover), nil if none.
	leftover atomic.Pointer[Journals]
	// users counts the mounts of the Vault sharing the journal,
	// guarded by the Vault's journalMu.
	users int
}

type journalSpan struct {
	id      [fileIDLen]byte
	lo, hi  int64
	written bool
}

// StartJournal gives the Vault an undo journal: every Content opened
// afterwards journals its in-place writes. The journal file is created
// in BACKING at the first such write (so a mount that only reads, or
// only creates files, leaves BACKING as it was), locked so that no
// other mount or fsck replays it while it lives, with its slots
// allocated when the filesystem can (so that a full disk later does not
// stop in-place writes from being journaled). StopJournal removes it.
func (v *Vault) StartJournal() {
	v.journalMu.Lock()
	defer v.journalMu.Unlock()
	if j := v.journal.Load(); j != nil {
		j.users++ // another mount of the same Vault (tests)
		return
	}
	j := &Journal{dir: v.dir, slotSize: journalSlotSize(v.ChunkSize()),
		seq: uint64(time.Now().UnixNano()), users: 1}
	j.free = sync.NewCond(&j.mu)
	v.journal.Store(j)
}

// createLocked creates the journal file (j.mu held).
func (j *Journal) createLocked() error {
	var id [8]byte
	rand.Read(id[:])
	path := filepath.Join(j.dir, JournalPrefix+hex.EncodeToString(id[:]))
	var f *os.File
	var err error
	keepDirTimes(j.dir, func() {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	})
	if err != nil {
		return err
	}
	if err := lockJournal(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	preallocate(f, journalSlots*j.slotSize)
	j.f, j.path = f, path
	return nil
}

// StopJournal closes and removes the journal at a clean unmount, once
// the server has stopped and every write has returned, and once every
// mount that started it has stopped it. Without a journal it does
// nothing.
func (v *Vault) StopJournal() error {
	v.journalMu.Lock()
	defer v.journalMu.Unlock()
	j := v.journal.Load()
	if j == nil {
		return nil
	}
	if j.users--; j.users > 0 {
		return nil
	}
	v.journal.Store(nil)
	if js := j.leftover.Swap(nil); js != nil {
		js.Close()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	j.free.Broadcast()
	if j.f == nil {
		return nil
	}
	var err error
	keepDirTimes(j.dir, func() { err = os.Remove(j.path) })
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// JournalPath is the live journal file's path ("" if there is none yet).
func (v *Vault) JournalPath() string {
	if j := v.journal.Load(); j != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.path
	}
	return ""
}

// payload is the most old bytes one record holds.
func (j *Journal) payload() int64 { return j.slotSize - int64(journalHeaderLen) }

// begin saves old, the bytes at backing offset off of the file with ID
// id, in a free slot and returns it; the caller writes in place and then
// calls end. ok is false if the copy could not be written (the journal
// is closed, or its write failed: a full disk where slots could not be
// allocated): older copies of those bytes are voided then, so that a
// repair never puts back a line older than the one this write replaces.
func (j *Journal) begin(id []byte, off int64, old []byte, buf []byte) (slot int, ok bool) {
	j.mu.Lock()
	for !j.closed && j.allBusy() {
		j.free.Wait()
	}
	if j.f == nil && !j.closed && j.createLocked() != nil {
		j.mu.Unlock()
		return -1, false // no journal file: BACKING is full or not writable
	}
	if j.closed {
		j.mu.Unlock()
		return -1, false
	}
	for j.busy[j.next] {
		j.next = (j.next + 1) % journalSlots
	}
	slot = j.next
	j.next = (j.next + 1) % journalSlots
	j.busy[slot] = true
	j.seq++
	seq := j.seq
	j.mu.Unlock()

	n := encodeJournalRecord(buf, seq, id, off, old)
	_, err := j.f.WriteAt(buf[:n], int64(slot)*j.slotSize)
	sp := journalSpan{lo: off, hi: off + int64(len(old)), written: err == nil}
	copy(sp.id[:], id)
	j.mu.Lock()
	if err != nil {
		j.voidLocked(sp)
	}
	j.held[slot] = sp
	j.mu.Unlock()
	return slot, err == nil
}

// end frees a slot taken by begin.
func (j *Journal) end(slot int) {
	if slot < 0 {
		return
	}
	j.mu.Lock()
	j.busy[slot] = false
	j.mu.Unlock()
	j.free.Signal()
}

func (j *Journal) allBusy() bool {
	for _, b := range j.busy {
		if !b {
			return false
		}
	}
	return true
}

// voidLocked overwrites the magic of every record that holds bytes of
// sp's range, which needs no new space.
func (j *Journal) voidLocked(sp journalSpan) {
	var zero [len(journalMagic)]byte
	for k, h := range j.held {
		if h.written && h.id == sp.id && h.lo < sp.hi && sp.lo < h.hi {
			j.f.WriteAt(zero[:], int64(k)*j.slotSize)
			j.held[k].written = false
		}
	}
}

// preallocate reserves n bytes of f (best effort).
func preallocate(f *os.File, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { fallocateGrow(fd, n) })
}

// keepDirTimes runs fn, which creates or removes the journal in dir, and
// then sets dir's access and modification times back: the journal is
// vault metadata, and the plaintext root (whose times are BACKING's)
// must not look changed by a write to some file deep in the tree, or by
// an unmount.
func keepDirTimes(dir string, fn func()) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		fn()
		return
	}
	fn()
	ts := []unix.Timespec{st.Atim, st.Mtim}
	unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW)
}
