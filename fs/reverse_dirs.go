package fs

import (
	"container/list"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"
)

// reverseDirs keeps a few plaintext directories open, so that the
// lookups and stats of one directory's entries (ls -lR sends one per
// entry) cost one fstatat each, not an openat per path component. An
// open directory is used for at most reverseTimeout: the plaintext folder
// changes behind our back (a directory renamed and another made in its
// place), and the kernel's own caches are no fresher than that.
type reverseDirs struct {
	plain *os.Root
	max   int
	mu    sync.Mutex
	m     map[string]*openDir
	lru   list.List // *openDir, most recently used first
}

type openDir struct {
	rel    string
	root   *os.Root
	opened time.Time
	users  int
	gone   bool // out of the map: close when the last user leaves
	elem   *list.Element
}

// maxReverseDirs bounds the directories kept open.
const maxReverseDirs = 64

func newReverseDirs(plain *os.Root) *reverseDirs {
	return &reverseDirs{plain: plain, max: maxReverseDirs, m: map[string]*openDir{}}
}

// at runs fn with the plaintext directory rel ("" is the root) open.
func (d *reverseDirs) at(rel string, fn func(r *os.Root) error) error {
	if rel == "" {
		return fn(d.plain)
	}
	od, err := d.get(rel)
	if err != nil {
		return err
	}
	defer d.put(od)
	return fn(od.root)
}

func (d *reverseDirs) get(rel string) (*openDir, error) {
	now := time.Now()
	d.mu.Lock()
	if od := d.m[rel]; od != nil {
		if now.Sub(od.opened) < reverseTimeout {
			od.users++
			d.lru.MoveToFront(od.elem)
			d.mu.Unlock()
			return od, nil
		}
		d.dropLocked(od)
	}
	d.mu.Unlock()
	r, err := d.plain.OpenRoot(rel)
	if err != nil {
		return nil, err
	}
	od := &openDir{rel: rel, root: r, opened: now, users: 1}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.m[rel]; old != nil {
		d.dropLocked(old)
	}
	d.m[rel] = od
	od.elem = d.lru.PushFront(od)
	for e := d.lru.Back(); e != nil && d.lru.Len() > d.max; {
		prev := e.Prev()
		if o := e.Value.(*openDir); o.users == 0 {
			d.dropLocked(o)
		}
		e = prev
	}
	return od, nil
}

// dropLocked takes od out of the cache, closing it unless in use.
func (d *reverseDirs) dropLocked(od *openDir) {
	if od.gone {
		return
	}
	od.gone = true
	delete(d.m, od.rel)
	d.lru.Remove(od.elem)
	if od.users == 0 {
		od.root.Close()
	}
}

func (d *reverseDirs) put(od *openDir) {
	d.mu.Lock()
	defer d.mu.Unlock()
	od.users--
	if od.gone && od.users == 0 {
		od.root.Close()
	}
}

// closeAll closes every cached directory (the mount has ended).
func (d *reverseDirs) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, od := range d.m {
		d.dropLocked(od)
	}
}

// split is rel's directory and name; the root is "" and ".".
func split(rel string) (dir, name string) {
	if rel == "" {
		return "", "."
	}
	dir, name = path.Split(rel)
	if dir != "" {
		dir = dir[:len(dir)-1]
	}
	return dir, name
}

// lstat is os.Lstat of the plaintext entry rel.
func (d *reverseDirs) lstat(rel string) (fi fs.FileInfo, err error) {
	dir, name := split(rel)
	err = d.at(dir, func(r *os.Root) error {
		fi, err = r.Lstat(name)
		return err
	})
	return fi, err
}

// open opens the plaintext entry rel with flags.
func (d *reverseDirs) open(rel string, flags int) (f *os.File, err error) {
	dir, name := split(rel)
	err = d.at(dir, func(r *os.Root) error {
		f, err = r.OpenFile(name, flags, 0)
		return err
	})
	return f, err
}

// readlink is os.Readlink of the plaintext symlink rel.
func (d *reverseDirs) readlink(rel string) (target string, err error) {
	dir, name := split(rel)
	err = d.at(dir, func(r *os.Root) error {
		target, err = r.Readlink(name)
		return err
	})
	return target, err
}
