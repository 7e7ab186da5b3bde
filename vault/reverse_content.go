package vault

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// ErrShrunk is returned by ReverseContent.ReadAt when the plaintext file
// became shorter than it was when opened: the encrypted view's layout
// (and the size a backup tool saw) depends on the size, so continuing
// would give a backup that is cut short. The FUSE layer reports EIO.
var ErrShrunk = errors.New("file shrank while being read")

// ReverseContent is the encrypted backing file that a plaintext file
// becomes in a reverse view, computed chunk by chunk on demand. Its layout
// is fixed by the plaintext size given to OpenContent; a change of the
// file afterwards gives, per chunk, a valid token of what one read of
// that chunk returned, and ErrShrunk once the file is too short. It is
// safe for concurrent use.
type ReverseContent struct {
	r    *Reverse
	f    *os.File
	fd   int
	name string
	size int64
	id   []byte
	key  *fernet.Key
	head [fileHeaderLen]byte
}

var _ io.ReaderAt = (*ReverseContent)(nil)

// OpenContent returns the view of the plaintext file f, of size bytes, at
// rel. f is read with positional reads only; the caller closes it.
func (r *Reverse) OpenContent(f *os.File, rel string, size int64) *ReverseContent {
	id := r.FileID(rel)
	c := &ReverseContent{r: r, f: f, fd: int(f.Fd()), name: rel, size: size, id: id, key: r.fwd.keys.ContentKey(id)}
	copy(c.head[:], fileMagic)
	hex.Encode(c.head[len(fileMagic):], id)
	c.head[fileHeaderLen-1] = '\n'
	return c
}

// BackingSize is the size of the view of a plaintext file of size bytes.
func (r *Reverse) BackingSize(size int64) int64 { return r.lay.backingSize(size) }

// Size is the view file's size.
func (c *ReverseContent) Size() int64 { return c.r.lay.backingSize(c.size) }

// ReadAt fills p with the view file's bytes at off. Only the chunks that
// p overlaps are read and sealed.
func (c *ReverseContent) ReadAt(p []byte, off int64) (int, error) {
	lay := c.r.lay
	S := lay.backingSize(c.size)
	if off < 0 {
		return 0, fmt.Errorf("%s: read at negative offset %d", c.name, off)
	}
	if off >= S {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), S)
	n := 0
	if off < int64(fileHeaderLen) {
		n = copy(p[:end-off], c.head[off:])
	}
	if off+int64(n) >= end {
		return c.done(n, len(p))
	}
	last, L := lay.lastChunk(c.size)
	// The last line may be longer than a full one (up to 16 newlines).
	first := min(last, (off+int64(n)-int64(fileHeaderLen))/lay.line)
	lastNeeded := min(last, (end-1-int64(fileHeaderLen))/lay.line)
	// seal does chunks [lo, hi), each into its own part of p.
	seal := func(lo, hi int64) error {
		s := c.newSealer()
		defer c.r.putSealer(s)
		for i := lo; i < hi; i++ {
			plen := lay.chunk
			if i == last {
				plen = L
			}
			line, err := s.line(i, plen, i == last)
			if err != nil {
				return err
			}
			at := lay.lineOff(i)
			from := max(off, at) - at
			to := min(end, at+int64(len(line))) - at
			copy(p[max(off, at)-off:], line[from:to])
		}
		return nil
	}
	if err := forRuns(first, lastNeeded+1, seal); err != nil {
		return 0, err
	}
	return c.done(int(end-off), len(p))
}

// reverseMinRun is the fewest chunks worth a goroutine of their own.
const reverseMinRun = 8

// forRuns calls fn on contiguous runs covering [lo, hi), on up to
// Cores goroutines at once, and returns the error of the lowest
// failing run.
func forRuns(lo, hi int64, fn func(lo, hi int64) error) error {
	w := min(int64(Cores()), (hi-lo)/reverseMinRun)
	if w < 2 {
		return fn(lo, hi)
	}
	per := (hi - lo + w - 1) / w
	errs := make([]error, w)
	var wg sync.WaitGroup
	for k := int64(1); k < w; k++ {
		wg.Go(func() { errs[k] = fn(lo+k*per, min(lo+(k+1)*per, hi)) })
	}
	errs[0] = fn(lo, min(lo+per, hi))
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *ReverseContent) done(n, want int) (int, error) {
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// sealer is the per-call state of ReadAt: buffers, the codec and the IV
// MAC, and what is known of the plaintext file's holes. Sealers are
// pooled per Reverse, as every read of every file needs one or more.
type sealer struct {
	c     *ReverseContent
	codec *fernet.Codec
	mac   hash.Hash
	plain []byte
	out   []byte
	raw   []byte // the codec's scratch room, lent for each use
	sum   [sha256.Size]byte
	ts    [8]byte
	holes holeMap
}

func (c *ReverseContent) newSealer() *sealer {
	s, ok := c.r.sealers.Get().(*sealer)
	if !ok {
		lay := c.r.lay
		s = &sealer{
			mac:   hmac.New(sha256.New, c.r.chunkIV),
			plain: make([]byte, lay.chunk),
			out:   make([]byte, 0, lay.line+aesBlock),
			raw:   make([]byte, lay.tok/4*3),
		}
	}
	s.c = c
	s.codec = c.key.NewCodec()
	s.codec.UseBuffer(s.raw)
	s.holes = holeMap{fd: c.fd}
	return s
}

// putSealer gives s back to the pool, without its file.
func (r *Reverse) putSealer(s *sealer) {
	s.c, s.codec = nil, nil
	r.sealers.Put(s)
}

// line returns chunk i's full line in the view: a hole if the chunk is
// not the last and lies wholly in a hole of the plaintext file, else its
// token and newlines. The token's IV is synthetic:
// HMAC(chunk IV key, file ID || timestamp || plaintext)[:16].
func (s *sealer) line(i, plen int64, last bool) ([]byte, error) {
	c := s.c
	lay := c.r.lay
	if !last && s.holes.isHole(i*lay.chunk, i*lay.chunk+lay.chunk) {
		s.out = s.out[:lay.line]
		clear(s.out)
		return s.out, nil
	}
	plain := s.plain[:plen]
	m, err := c.f.ReadAt(plain, i*lay.chunk)
	if m < len(plain) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w (chunk %d: %d of %d bytes)", c.name, ErrShrunk, i, m, len(plain))
		}
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	ts := uint64(i)
	if last {
		ts |= finalBit
	}
	binary.BigEndian.PutUint64(s.ts[:], ts)
	s.mac.Reset()
	s.mac.Write(c.id)
	s.mac.Write(s.ts[:])
	s.mac.Write(plain)
	iv := s.mac.Sum(s.sum[:0])[:aesBlock]
	s.out = s.codec.Seal(s.out[:0], plain, ts, iv)
	nl := int64(1)
	if last {
		nl = padLen(plen)
	}
	for range nl {
		s.out = append(s.out, '\n')
	}
	return s.out, nil
}

// holeMap answers "does [lo, hi) lie wholly in a hole?" with lseek
// SEEK_DATA/SEEK_HOLE, remembering the last answer so a run of chunks
// costs two lseeks, not one per chunk. A filesystem without hole
// support reports the whole file as data, which is also correct.
type holeMap struct {
	fd int
	// Known since q: no data in [q, data), data in [data, dataEnd).
	q, data, dataEnd int64
	valid, off       bool
}

func (h *holeMap) isHole(lo, hi int64) bool {
	if h.off {
		return false
	}
	if !h.valid || lo < h.q || lo >= h.dataEnd {
		h.q = lo
		d, err := unix.Seek(h.fd, lo, unix.SEEK_DATA)
		switch {
		case err == unix.ENXIO:
			// No data from lo to the end of the file: a hole up to the
			// current size, and past it "data", so that the read finds
			// a file that shrank.
			var st unix.Stat_t
			if err := unix.Fstat(h.fd, &st); err != nil {
				h.off = true
				return false
			}
			h.data, h.dataEnd = st.Size, math.MaxInt64
		case err != nil:
			h.off = true
			return false
		default:
			e, err := unix.Seek(h.fd, d, unix.SEEK_HOLE)
			if err != nil {
				h.off = true
				return false
			}
			h.data, h.dataEnd = d, e
		}
		h.valid = true
	}
	return hi <= h.data
}
