package vault

import (
	"sync"
	"time"
)

// dirIVCache remembers the IVs of directories a mount has had open, so
// that opening one again once the kernel has forgotten it (its node,
// and with it the open Dir, went away: memory pressure, a dropped
// cache, the mount's bound on open directories) needs no read of the
// IV file, a random read of one block per directory when the backing
// page cache has dropped it too. A cold "rm -rf" or "ls -lR" of a tree
// the mount has listed or made before opens every directory that way.
//
// An entry holds an IV read from the IV file with the directory's
// identity and change time when it was read, and only if they were the
// same when its Dir was closed. The IV is used again only for the same
// inode (device, number, birth time) with an unchanged ctime, so a
// directory removed and another made under the same inode number, or
// any change to the directory since the read, through the mount or
// behind its back (a new IV file renamed into place, a conflict copy
// appearing, any entry added or removed), reads the IV file again. What
// it cannot see is the IV file rewritten in place, which changes no
// ctime of the directory; a Dir held open does not see that either, and
// fernetfs never does it.
//
// Timestamps are coarse (a clock tick, or seconds on some filesystems),
// so a change in the same tick as the read could leave the ctime as it
// was; as git does with its index, a directory changed less than settle
// before its IV is read is not remembered.
type dirIVCache struct {
	mu     sync.Mutex
	max    int
	settle time.Duration
	m      map[dirIVKey]dirIVEntry
}

// dirIVSettle is dirIVCache.settle: more than the coarsest timestamp
// granularity of the filesystems fernetfs runs on (2 s on FAT).
const dirIVSettle = 3 * time.Second

// dirIVKey is a backing directory's inode.
type dirIVKey struct{ dev, ino uint64 }

// dirIVEntry is what the cache knows of one directory: its birth and
// change times (nanoseconds; birth 0 where the filesystem has none) and
// its IV.
type dirIVEntry struct {
	born, changed int64
	iv            [DirIVLen]byte
}

// CacheDirIVs makes the directories opened afterwards remember their IV
// when closed, for at most max directories (see dirIVCache); 0 turns it
// off. A cache of that size already there is kept, with what it holds.
// The mount turns it on unless other mounts share the backing
// directory: there a directory's IV file may be replaced by another
// machine at any time.
func (v *Vault) CacheDirIVs(max int) {
	if max <= 0 || v.PlaintextNames() {
		v.ivCache.Store(nil)
		return
	}
	if c := v.ivCache.Load(); c != nil && c.max == max {
		return
	}
	v.ivCache.Store(&dirIVCache{max: max, settle: dirIVSettle, m: make(map[dirIVKey]dirIVEntry)})
}

// dirIVStamp is a directory's inode and times when its IV was read
// (see Dir.stamp).
type dirIVStamp struct {
	k dirIVKey
	e dirIVEntry
}

// stamp reads the identity and times of the directory open as fd, when
// the cache is on and the directory's last change is settled (a clock
// set back makes every change unsettled).
func (c *dirIVCache) stamp(fd int) (*dirIVStamp, bool) {
	if c == nil {
		return nil, false
	}
	k, e, ok := dirStamp(fd)
	if !ok {
		return nil, false
	}
	if age := time.Now().UnixNano() - e.changed; age < int64(c.settle) {
		return nil, false
	}
	return &dirIVStamp{k: k, e: e}, true
}

// lookup returns the remembered IV of the directory stamped st, if the
// cache holds one for it as it is now.
func (c *dirIVCache) lookup(st *dirIVStamp) ([]byte, bool) {
	c.mu.Lock()
	got, ok := c.m[st.k]
	c.mu.Unlock()
	if !ok || got.born != st.e.born || got.changed != st.e.changed {
		return nil, false
	}
	return append([]byte(nil), got.iv[:]...), true
}

// remember notes iv as the IV of the directory open as fd, about to be
// closed, if the directory is as it was when st was taken, before its
// IV was read: so what is remembered is what the IV file held at a
// known ctime, and a change made while the directory was open (through
// the mount or not) leaves it to be read again. Otherwise, or when the
// directory has been removed, it is forgotten. When the cache is full
// an arbitrary entry makes room.
func (c *dirIVCache) remember(fd int, st *dirIVStamp, iv []byte) {
	if c == nil {
		return
	}
	k, e, ok := dirStamp(fd)
	ok = ok && k == st.k && e.born == st.e.born && e.changed == st.e.changed && len(iv) == DirIVLen
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		delete(c.m, st.k)
		return
	}
	copy(e.iv[:], iv)
	if _, there := c.m[k]; !there && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = e
}
