package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/fernetfs/fernetfs/vault/fernet"
	"golang.org/x/sys/unix"
)

// Backing is the backing file of one plaintext file. *os.File satisfies
// it; tests and tools may supply other implementations. Content only uses
// positional I/O, so the file offset is never touched.
type Backing interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
}

var (
	_ Backing     = (*os.File)(nil)
	_ io.ReaderAt = (*Content)(nil)
	_ io.WriterAt = (*Content)(nil)
)

// Content is the plaintext view of one backing file: the chunked Fernet
// format, with random access in both directions. It holds the
// per-backing-inode lock (ReadAt, Size, Seek* and Check shared; WriteAt,
// Truncate and Allocate exclusive), so the fs keeps exactly one Content per
// backing inode, shared by all handles and hard links, and read-modify-write
// of a chunk is never interleaved.
type Content struct {
	mu   sync.RWMutex
	keys *Keys
	b    Backing
	lay  layout
	name atomic.Pointer[string]
	// fk caches the file ID and content key. Readers fill it under the
	// shared lock (any of them may, all compute the same value); writers
	// replace or drop it under the exclusive lock.
	fk atomic.Pointer[fileKey]
	// bsize caches the backing file's size (-1: not known yet), so a
	// read or write costs no fstat: fernetfs is the only writer of the
	// backing file and every change goes through this Content. Readers
	// fill it under the shared lock (all would store the same value);
	// writers set it under the exclusive lock, and forget it when a
	// change fails halfway.
	bsize atomic.Int64
	// fd and lastEnd serve readBacking: the backing descriptor, and
	// where the previous read ended (sequential reads are left to the
	// kernel's read-ahead).
	fd      backingFd
	lastEnd atomic.Int64
	// bm is the mapping small random reads copy from (see backingMap).
	bm backingMap
	// dio is the descriptor large cold reads bypass the page cache
	// with (see directFd).
	dio directFd
	// bufs are the vault's shared I/O buffers.
	bufs *bufPools
	// sh locks the backing file against other mounts (content_lock.go).
	sh sharedState
	// jr is the mount's undo journal (nil: in-place writes are not
	// journaled, as in the offline commands).
	jr *Journal
	// tail is the last chunk as the last change wrote it (guarded by
	// mu, exclusive).
	tail tailCache

	// Test hooks for golden files; nil in normal use. newID fills a new
	// file's ID, iv the IV of a chunk about to be sealed.
	newID func(id []byte)
	iv    func(chunk int64, iv []byte)
}

// OpenContent returns the plaintext view of backing file b. name is the
// file's path, used only in error messages (see SetName).
func (v *Vault) OpenContent(b Backing, name string) *Content {
	c := &Content{keys: v.Keys(), b: b, lay: newLayout(v.ChunkSize()), bufs: &v.bufs}
	c.name.Store(&name)
	c.bsize.Store(-1)
	c.jr = v.journal.Load()
	c.fd.init(b)
	c.dio.init(c.fd.raw)
	c.initShared(v, b)
	return c
}

// KnowBackingSize gives a Content that was just opened the size of its
// backing file as the opener's statx found it, so that its first read or
// write needs no fstat. It does nothing once the size is known, nor on
// shared storage, where every operation reads the size under its locks.
func (c *Content) KnowBackingSize(n int64) {
	if !c.sh.on && n >= 0 {
		c.bsize.CompareAndSwap(-1, n)
	}
}

// SetName changes the name used in error messages, after a rename, so
// that a corruption report points at the file's current path.
func (c *Content) SetName(name string) { c.name.Store(&name) }

// Name is the file name used in error messages.
func (c *Content) Name() string { return *c.name.Load() }

// Size is the plaintext size. It only stats the backing file, so getattr
// and directory listings never read content.
func (c *Content) Size() (int64, error) {
	unlock, err := c.lockShared(unix.F_RDLCK, 0, 0, 0)
	if err != nil {
		return 0, err
	}
	defer unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, p, err := c.sizeLocked()
	return p, err
}

// sizeLocked returns the backing and plaintext sizes, statting the
// backing file only the first time.
func (c *Content) sizeLocked() (backing, plain int64, err error) {
	backing = c.bsize.Load()
	if backing < 0 {
		var err error
		if backing, err = c.statSize(); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", c.Name(), err)
		}
	}
	plain, err = c.lay.plainSize(backing)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", c.Name(), err)
	}
	c.bsize.Store(backing)
	return backing, plain, nil
}

// fileKey is what a file's header line determines: its ID, the header
// bytes, the content key, and the idle per-goroutine chunkWorkers (each
// with a Codec for that key), at most Cores of them.
//
// The idle workers are a plain list, not a sync.Pool: a pool costs a
// per-P array on its first Put (768 bytes with six Ps, for every file
// written), and every collection empties it, so the next request built
// the Codec again.
type fileKey struct {
	line [fileHeaderLen]byte
	key  *fernet.Key
	mu   sync.Mutex
	idle []*chunkWorker
	// maxIdle bounds idle: Cores when the key was made, as asking the
	// runtime for GOMAXPROCS takes its scheduler lock.
	maxIdle int
}

func (c *Content) makeFileKey(id []byte) *fileKey {
	fk := &fileKey{key: c.keys.ContentKey(id), maxIdle: Cores()}
	copy(fk.line[:], fileMagic)
	hex.Encode(fk.line[len(fileMagic):], id)
	fk.line[fileHeaderLen-1] = '\n'
	return fk
}

// newFileKey makes the key of a new file with a fresh random ID.
func (c *Content) newFileKey() *fileKey {
	var id [fileIDLen]byte
	if c.newID != nil {
		c.newID(id[:])
	} else {
		rand.Read(id[:])
	}
	return c.makeFileKey(id[:])
}

// parseFileHeader checks a header line and returns the file's key, reusing
// cached when the line is the one it was made from.
func (c *Content) parseFileHeader(line []byte, cached *fileKey) (*fileKey, error) {
	if cached != nil && string(cached.line[:]) == string(line) {
		return cached, nil
	}
	bad := len(line) != fileHeaderLen || string(line[:len(fileMagic)]) != fileMagic ||
		line[fileHeaderLen-1] != '\n'
	if !bad {
		for _, ch := range line[len(fileMagic) : fileHeaderLen-1] {
			if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
				bad = true
				break
			}
		}
	}
	if bad {
		return nil, fmt.Errorf("%w: %s: file header line is malformed: %q", ErrCorrupt, c.Name(), line)
	}
	var id [fileIDLen]byte
	hex.Decode(id[:], line[len(fileMagic):fileHeaderLen-1])
	fk := c.makeFileKey(id[:])
	c.fk.Store(fk)
	return fk, nil
}

// loadKey returns the file's key, reading the header line if it is not
// cached yet. The caller holds the lock (shared or exclusive) and knows
// the file is not empty.
func (c *Content) loadKey() (*fileKey, error) {
	if fk := c.fk.Load(); fk != nil {
		return fk, nil
	}
	var line [fileHeaderLen]byte
	if err := c.readFull(line[:], 0); err != nil {
		return nil, err
	}
	return c.parseFileHeader(line[:], nil)
}

// readFull reads exactly len(p) backing bytes at off. The size came from
// fstat under the lock, so a short read means the file changed behind
// fernetfs's back.
func (c *Content) readFull(p []byte, off int64) error {
	n, err := c.b.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: backing file shorter than its size (changed concurrently?)", ErrCorrupt, c.Name())
	}
	return fmt.Errorf("%s: %w", c.Name(), err)
}

// chunkErr is a corruption error naming the file and chunk.
func (c *Content) chunkErr(i int64, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if err != nil {
		return fmt.Errorf("%w: %s: chunk %d: %s: %w", ErrCorrupt, c.Name(), i, msg, err)
	}
	return fmt.Errorf("%w: %s: chunk %d: %s", ErrCorrupt, c.Name(), i, msg)
}
