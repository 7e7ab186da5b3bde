package vault

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"
)

// Stream reads a directory's entries in backing order for a directory
// stream of the mount, decrypting each name as it reaches it. It holds
// one read buffer and a descriptor of its own, never the listing, so
// reading a directory of 100,000 entries costs no more memory than one
// of ten. Positions are the backing filesystem's own directory offsets
// (d_off), which stay valid on any descriptor of the directory, as
// telldir/seekdir need; "." and ".." come from the backing directory
// too, so every position is one the backing filesystem gave.
//
// When the directory holds conflict copies of its IV, a name can only
// be shown once all the others are known (see relabelAltDuplicates), so
// the stream then decrypts every entry when it starts and positions are
// indexes into that list.
type Stream struct {
	d  *Dir
	fd int
	// bp and buf are the getdents buffer, from the vault's pools and
	// given back by Close: rm -rf opens two streams per directory, and
	// a fresh 32 KiB for each made most of what the daemon allocated
	// there, and so most of its garbage collection.
	bp  *[]byte
	buf []byte
	// rest is what the last getdents returned and Next has not yet
	// consumed; eof is set once getdents returned nothing more.
	rest []byte
	eof  bool
	// decoded is the whole listing in a directory with conflict copies
	// of its IV; next indexes it (stream positions are next+1).
	decoded []DirEntry
	next    int
	// last is the backing name of the entry Next returned last: in buf,
	// or lastDecoded in a decoded listing.
	last        []byte
	lastDecoded string
}

// streamBufSize is the getdents buffer: about 250 entries of encrypted
// names per system call.
const streamBufSize = 32 << 10

// OpenStream starts reading the directory from its beginning. It reads
// through a descriptor of its own, as List does; names of long entries
// are read from their sidecars through d, which must stay open while
// the stream is used. Close releases it.
func (d *Dir) OpenStream() (*Stream, error) {
	fd, err := openatRetry(d.fd, ".", dirOpenFlags, 0)
	if err != nil {
		return nil, d.pathErr("openat", ".", err)
	}
	bp := d.v.bufs.get(streamBufSize)
	s := &Stream{d: d, fd: fd, bp: bp, buf: *bp}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start positions the stream at the beginning. In encrypted-name vaults
// it first looks through the whole directory for conflict copies of the
// IV, without keeping the names. A directory that fits the buffer is
// then streamed from what that look read, a larger one read again.
func (s *Stream) start() error {
	s.decoded, s.next = nil, 0
	s.rest, s.eof = nil, false
	if err := s.seekFd(0); err != nil {
		return err
	}
	d := s.d
	if d.v.PlaintextNames() {
		return nil
	}
	var ivCopies []string
	// s.buf[:used] holds the directory from its start as long as whole
	// is set; each read goes after it while the buffer has room for
	// the longest record (a read with no room for the next entry fails).
	used, whole := 0, true
	for {
		if whole && len(s.buf)-used < 1024 {
			whole, used = false, 0
		}
		at := used
		n, err := s.getdents(s.buf[at:])
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if whole {
			used += n
		}
		for b := s.buf[at : at+n]; len(b) > 0; {
			_, _, _, name, rest, ok := direntBytes(b)
			if !ok {
				return d.pathErr("getdents", ".", fmt.Errorf("malformed directory entry"))
			}
			b = rest
			// Every conflict copy of the IV starts with the first
			// part of its name; encrypted names never do.
			if bytes.HasPrefix(name, []byte("fernetfs")) {
				if _, ok := isDirIVCopy(string(name)); ok {
					ivCopies = append(ivCopies, string(name))
				}
			}
		}
	}
	if alts := d.noteAltIVs(ivCopies); len(alts) > 0 {
		l, _, _, err := d.snapshot(false)
		if err != nil {
			return err
		}
		s.decoded = make([]DirEntry, l.Len())
		for i := range s.decoded {
			s.decoded[i] = l.At(i)
		}
		return nil
	}
	if whole {
		s.rest, s.eof = s.buf[:used], true
		return nil
	}
	return s.seekFd(0)
}

// Next returns the next entry and the position after it, or ok false at
// the end. "." and ".." are returned as entries of those names (Ino the
// backing inode). An entry whose name does not decode comes with Err set
// (wrapping ErrCorrupt); err is a failure to read the directory.
//
// Backing may be left empty, so that a listing allocates only the
// plaintext name of each entry: Backing gives it.
func (s *Stream) Next() (e DirEntry, pos uint64, ok bool, err error) {
	s.last, s.lastDecoded = nil, ""
	if s.decoded != nil {
		e, pos, ok, err = s.nextDecoded()
		s.lastDecoded = e.Backing
		return e, pos, ok, err
	}
	d := s.d
	for {
		if len(s.rest) == 0 {
			if s.eof {
				return DirEntry{}, 0, false, nil
			}
			n, err := s.getdents(s.buf)
			if err != nil {
				return DirEntry{}, 0, false, err
			}
			if n == 0 {
				s.eof = true
				continue
			}
			s.rest = s.buf[:n]
		}
		ino, off, typ, name, rest, ok := direntBytes(s.rest)
		if !ok {
			s.rest = nil
			return DirEntry{}, 0, false, d.pathErr("getdents", ".", fmt.Errorf("malformed directory entry"))
		}
		s.rest = rest
		e := DirEntry{Ino: ino, Type: typ}
		switch {
		case string(name) == ".":
			e.Name, e.Backing = ".", "."
		case string(name) == "..":
			e.Name, e.Backing = "..", ".."
		case d.decryptShort(name, &e):
		default:
			e.Backing = string(name)
			s.slowEntry(&e)
			if e.Backing == "" {
				continue
			}
		}
		s.last = name
		return e, off, true, nil
	}
}

// slowEntry fills in e, whose Backing is set, or clears Backing when the
// listing leaves it out.
func (s *Stream) slowEntry(e *DirEntry) {
	d := s.d
	switch {
	case d.v.PlaintextNames():
		if IsReservedName(e.Backing) {
			e.Backing = ""
			return
		}
		e.Name = e.Backing
	case skipMetadata(e.Backing):
		e.Backing = ""
	default:
		d.decryptName(e)
	}
}

// Backing is the backing name of the entry Next returned last.
func (s *Stream) Backing() string {
	if s.last != nil {
		return string(s.last)
	}
	return s.lastDecoded
}

// nextDecoded is Next over a listing decrypted at the start: positions
// 1 and 2 follow "." and "..", position i+3 follows entry i.
func (s *Stream) nextDecoded() (DirEntry, uint64, bool, error) {
	i := s.next
	s.next++
	switch {
	case i == 0 || i == 1:
		dots := [2]string{".", ".."}[i]
		return DirEntry{Name: dots, Backing: dots, Type: unix.S_IFDIR}, uint64(i + 1), true, nil
	case i-2 < len(s.decoded):
		return s.decoded[i-2], uint64(i + 1), true, nil
	}
	s.next = len(s.decoded) + 2
	return DirEntry{}, 0, false, nil
}

// Seek moves the stream to a position Next returned; 0 starts over,
// reading the directory again so that new entries show.
func (s *Stream) Seek(pos uint64) error {
	if pos == 0 {
		return s.start()
	}
	if s.decoded != nil {
		if pos > uint64(len(s.decoded)+2) {
			return unix.EINVAL
		}
		s.next = int(pos)
		return nil
	}
	s.rest, s.eof = nil, false
	return s.seekFd(int64(pos))
}

// Close releases the stream's descriptor.
func (s *Stream) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	s.d.v.bufs.put(s.bp)
	s.bp, s.buf, s.rest, s.last, s.decoded = nil, nil, nil, nil, nil
	return err
}

func (s *Stream) seekFd(pos int64) error {
	if _, err := unix.Seek(s.fd, pos, 0); err != nil {
		return s.d.pathErr("lseek", ".", err)
	}
	return nil
}

func (s *Stream) getdents(buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(s.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, s.d.pathErr("getdents", ".", err)
		}
		return n, nil
	}
}
