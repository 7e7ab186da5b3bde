package fs

import (
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// root is the state one mount shares between all its nodes: the vault,
// the options and the table of open backing files.
type root struct {
	v        *vault.Vault
	opts     Options
	log      *log.Logger
	chunk    int
	readOnly bool
	// asRoot: the daemon runs as root, so entries created for another
	// caller (allow_other) are chowned to that caller, as the kernel
	// would do on a local filesystem.
	asRoot  bool
	rootDev uint64
	// timeout is how long the kernel may cache entries, attributes,
	// negative lookups and listings: cacheTimeout, or 0 with shared
	// storage, where other machines change BACKING and the kernel
	// must ask every time, as gocryptfs -sharedstorage does.
	timeout time.Duration

	// files holds one shared content per backing inode that is open,
	// so hard links and separate handles use one lock.
	filesMu sync.Mutex
	files   map[fileKey]*openFile

	// activity counts finished requests and handles the open file
	// handles; --idle unmounts when the first stops moving and the
	// second is zero.
	activity atomic.Uint64
	handles  atomic.Int64

	// openDirs holds the directories with a cached fd, oldest first,
	// so their number stays under maxOpenDirs: the kernel may keep
	// thousands of directory inodes, but fds are limited.
	dirsMu      sync.Mutex
	openDirs    []*dirState
	maxOpenDirs int

	// stale answers opens of files that vanished after the kernel's
	// lookup.
	stale staleOpens

	// logged remembers problems already reported (a corrupt size, an
	// undecodable name), so each is logged once, not on every stat.
	loggedMu sync.Mutex
	logged   map[string]bool
}

// fileKey identifies a backing inode. gen (see gen) tells apart two
// inodes that had the same number one after the other: without it, a
// node whose file was deleted could be matched with the open content of
// a new file that reused the inode number.
type fileKey struct{ dev, ino, gen uint64 }

// NewRoot opens the vault's backing root and returns the root node of
// the plaintext tree. Mount is the usual entry point; NewRoot exists for
// callers that drive go-fuse themselves.
func NewRoot(v *vault.Vault, opts Options) (gofs.InodeEmbedder, error) {
	return newRoot(v, opts)
}

func newRoot(v *vault.Vault, opts Options) (*node, error) {
	logger := opts.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "fernetfs: ", 0)
	}
	d, err := v.OpenRoot()
	if err != nil {
		return nil, fmt.Errorf("opening backing directory %s: %w", v.Dir(), err)
	}
	var st unix.Statx_t
	if err := statFd(d.Fd(), &st); err != nil {
		d.Close()
		return nil, fmt.Errorf("stat %s: %w", v.Dir(), err)
	}
	r := &root{
		v:        v,
		opts:     opts,
		log:      logger,
		chunk:    v.ChunkSize(),
		readOnly: opts.ReadOnly,
		asRoot:   os.Geteuid() == 0,
		rootDev:  devOf(&st),
		files:    make(map[fileKey]*openFile),
		logged:   make(map[string]bool),
	}
	switch {
	case v.SharedStorage():
	case opts.cacheTimeout > 0:
		r.timeout = opts.cacheTimeout
	default:
		r.timeout = cacheTimeout
	}
	if v.SharedStorage() {
		v.CacheDirIVs(0)
	} else {
		v.CacheDirIVs(dirIVCacheSize)
	}
	r.maxOpenDirs = opts.maxOpenDirs
	if r.maxOpenDirs <= 0 {
		r.maxOpenDirs = defaultMaxOpenDirs()
	}
	n := &node{}
	n.SetData(&nodeExt{key: keyOf(&st), dir: &dirState{d: d}, r: r})
	return n, nil
}

// dirIVCacheSize is how many directories' IVs the mount remembers once
// their nodes are gone (vault.CacheDirIVs): about 64 bytes each, so
// 1 MiB at most, and enough for every directory of a large source tree
// (Go's has 1,325).
const dirIVCacheSize = 16 << 10

// defaultMaxOpenDirs leaves three quarters of the fd limit to open
// files and go-fuse.
func defaultMaxOpenDirs() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(max(rl.Cur/4, 64), 16384))
}

// noteOpenDir records a directory that just cached its fd and, when
// too many are cached, closes the least recently opened ones that no
// request is using and that were not used since they were last looked
// at (second chance). They reopen on their next use.
func (r *root) noteOpenDir(ds *dirState) {
	r.dirsMu.Lock()
	defer r.dirsMu.Unlock()
	r.openDirs = append(r.openDirs, ds)
	for tries := 2 * len(r.openDirs); len(r.openDirs) > r.maxOpenDirs && tries > 0; tries-- {
		v := r.openDirs[0]
		r.openDirs = r.openDirs[1:]
		v.mu.Lock()
		switch {
		case v.d == nil:
			// Already closed (forgotten); drop the entry.
		case v.users > 0 || v.recent:
			v.recent = false
			r.openDirs = append(r.openDirs, v)
		default:
			v.d.Close()
			v.d = nil
		}
		v.mu.Unlock()
	}
}

// rootStableAttr is the identity of the root node, given to go-fuse at
// mount so the root reports the backing root's inode number.
func (n *node) rootStableAttr() *gofs.StableAttr {
	return &gofs.StableAttr{Ino: n.r().ino(n.key()), Gen: 1}
}

func devOf(st *unix.Statx_t) uint64 { return unix.Mkdev(st.Dev_major, st.Dev_minor) }

func keyOf(st *unix.Statx_t) fileKey { return fileKey{dev: devOf(st), ino: st.Ino, gen: gen(st)} }

// ino is the plaintext inode number for a backing inode: the backing
// number itself (stable across mounts, as hard links and tools like
// rsync -H and git expect), mixed with the device only for the rare
// entry on another filesystem so numbers stay unique.
func (r *root) ino(k fileKey) uint64 {
	if k.dev == r.rootDev {
		return k.ino
	}
	return k.ino ^ (k.dev<<32 | k.dev>>32)
}

// gen derives the inode generation from the birth time, so a backing
// inode number reused for a new file is a new kernel inode.
func gen(st *unix.Statx_t) uint64 {
	if st.Mask&unix.STATX_BTIME == 0 || (st.Btime.Sec == 0 && st.Btime.Nsec == 0) {
		return 1
	}
	return uint64(st.Btime.Sec)*1e9 + uint64(st.Btime.Nsec)
}

// logOnce logs a problem the first time key is seen.
func (r *root) logOnce(key, format string, args ...any) {
	r.loggedMu.Lock()
	seen := r.logged[key]
	r.logged[key] = true
	r.loggedMu.Unlock()
	if !seen {
		r.log.Printf(format, args...)
	}
}

// reportBadSize logs a backing size that cannot belong to a valid
// file, once per inode and size, whether a stat or an open finds it
// first: the one line that names a file the mount refuses to open.
func (r *root) reportBadSize(where string, k fileKey, size int64) {
	_, err := vault.PlainSize(size, r.chunk)
	if err == nil {
		return
	}
	r.logOnce(fmt.Sprintf("size %d:%d:%d:%d", k.dev, k.ino, k.gen, size),
		"%s: %v (damaged: shown with the %d bytes of its whole chunks; opening it fails with EIO; fernetfs fsck --repair cuts it back)",
		where, err, vault.PrefixSize(size, r.chunk))
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
