package fs

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// diffSeed, if set, runs the differential test with just this seed
// (to reproduce a failure printed by a long run).
var diffSeed = flag.Uint64("fernetfs.seed", 0, "run TestDifferential with only this seed")

// diffHandle is one file opened the same way on the mount and on the
// reference directory.
type diffHandle struct {
	m, p  int // fds: mount, reference
	path  string
	flags int
	// dir: a directory opened read-only. Its offsets are opaque
	// cookies and its size is the backing layout's, so lseek and the
	// size are not compared for it.
	dir bool
}

// differ applies the same random operations to a mount and to a plain
// directory and fails as soon as they disagree: in a result, an errno,
// the bytes read, or (after every step) the whole tree.
type differ struct {
	t       *testing.T
	rng     *rand.Rand
	gen     *plainGen
	chunk   int
	mnt     string // mount root for the run
	ref     string // reference root
	handles []*diffHandle
	log     []string
	step    int
}

// Names come from a small pool so operations often hit existing
// entries (and each other).
var diffNames = []string{"a", "b", "c", "d", "e", "f"}

func (d *differ) fail(format string, args ...any) {
	d.t.Helper()
	start := max(0, len(d.log)-25)
	d.t.Fatalf("step %d: %s\nlast operations:\n  %s", d.step, fmt.Sprintf(format, args...),
		strings.Join(d.log[start:], "\n  "))
}

func (d *differ) logf(format string, args ...any) {
	d.log = append(d.log, fmt.Sprintf("%d: ", d.step)+fmt.Sprintf(format, args...))
}

// sameErr compares the errors of the two sides by errno.
func (d *differ) sameErr(op string, em, ep error) bool {
	d.t.Helper()
	if errnoOfErr(em) != errnoOfErr(ep) {
		d.fail("%s: mount error %v, reference error %v", op, em, ep)
	}
	return ep == nil
}

func errnoOfErr(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.Errno(0xffff) // a non-errno error never matches silently
}

// entries lists the reference tree: every directory (relative, "" for
// the root) and every non-directory path.
func (d *differ) entries() (dirs, files []string) {
	dirs = []string{""}
	filepath.WalkDir(d.ref, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == d.ref {
			return nil
		}
		rel, _ := filepath.Rel(d.ref, p)
		if e.IsDir() {
			dirs = append(dirs, rel)
		} else {
			files = append(files, rel)
		}
		return nil
	})
	return dirs, files
}

// somePath picks an existing file (often), an existing directory, or a
// fresh name in an existing directory (depth at most 3).
func (d *differ) somePath(preferFile bool) string {
	dirs, files := d.entries()
	r := d.rng.IntN(10)
	switch {
	case preferFile && len(files) > 0 && r < 6:
		return files[d.rng.IntN(len(files))]
	case r < 8 && len(dirs) > 1:
		if p := dirs[1+d.rng.IntN(len(dirs)-1)]; !preferFile || r < 7 {
			if strings.Count(p, "/") < 2 {
				return filepath.Join(p, diffNames[d.rng.IntN(len(diffNames))])
			}
			return p
		}
	}
	dir := dirs[d.rng.IntN(len(dirs))]
	if strings.Count(dir, "/") >= 2 {
		dir = ""
	}
	return filepath.Join(dir, diffNames[d.rng.IntN(len(diffNames))])
}

// someSize favours chunk boundaries.
func (d *differ) someSize() int {
	c := d.chunk
	k := d.rng.IntN(5)
	switch d.rng.IntN(4) {
	case 0:
		return k*c + d.rng.IntN(3) - 1 + 1 // k*c, k*c+1, k*c-0
	case 1:
		return max(0, k*c-1)
	case 2:
		return d.rng.IntN(16)
	}
	return d.rng.IntN(5*c + 1)
}

func (d *differ) someData() []byte {
	return d.gen.bytes(min(d.someSize(), 4*d.chunk+7))
}

func (d *differ) someHandle() *diffHandle {
	if len(d.handles) == 0 {
		return nil
	}
	return d.handles[d.rng.IntN(len(d.handles))]
}

var diffOpenFlags = []int{
	unix.O_RDONLY, unix.O_WRONLY, unix.O_RDWR,
	unix.O_RDWR | unix.O_CREAT, unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC,
	unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, unix.O_WRONLY | unix.O_APPEND,
	unix.O_RDWR | unix.O_APPEND | unix.O_CREAT, unix.O_RDWR | unix.O_TRUNC,
}

// op performs one random operation on both sides.
func (d *differ) op() {
	d.t.Helper()
	h := d.someHandle()
	k := d.rng.IntN(17)
	if needsHandle := k >= 2 && k < 11 && k != 8 || k >= 15; h == nil && needsHandle {
		k = 0
	}
	switch {
	case k < 2:
		if len(d.handles) >= 8 {
			d.closeHandle(d.handles[0])
			return
		}
		path := d.somePath(true)
		flags := diffOpenFlags[d.rng.IntN(len(diffOpenFlags))]
		mode := uint32(0o600 + d.rng.IntN(2)*0o44)
		d.logf("open %s flags %#o mode %o", path, flags, mode)
		fm, em := unix.Open(filepath.Join(d.mnt, path), flags|unix.O_CLOEXEC, mode)
		fp, ep := unix.Open(filepath.Join(d.ref, path), flags|unix.O_CLOEXEC, mode)
		if d.sameErr("open", em, ep) {
			var st unix.Stat_t
			if err := unix.Fstat(fp, &st); err != nil {
				d.fail("fstat reference: %v", err)
			}
			d.handles = append(d.handles, &diffHandle{m: fm, p: fp, path: path, flags: flags, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR})
		}
	case k < 4:
		data := d.someData()
		d.logf("write fd(%s) %d bytes", h.path, len(data))
		nm, em := unix.Write(h.m, data)
		np, ep := unix.Write(h.p, data)
		if d.sameErr("write", em, ep) && nm != np {
			d.fail("write: mount wrote %d, reference %d", nm, np)
		}
	case k < 6:
		data := d.someData()
		off := int64(d.someSize())
		d.logf("pwrite fd(%s) %d bytes at %d", h.path, len(data), off)
		nm, em := unix.Pwrite(h.m, data, off)
		np, ep := unix.Pwrite(h.p, data, off)
		if d.sameErr("pwrite", em, ep) && nm != np {
			d.fail("pwrite: mount wrote %d, reference %d", nm, np)
		}
	case k < 7:
		n := d.someSize() + 1
		d.logf("read fd(%s) %d bytes", h.path, n)
		bm, bp := make([]byte, n), make([]byte, n)
		nm, em := unix.Read(h.m, bm)
		np, ep := unix.Read(h.p, bp)
		if d.sameErr("read", em, ep) && !bytes.Equal(bm[:nm], bp[:np]) {
			d.fail("read: mount got %d bytes, reference %d, first difference at %d", nm, np, diffAt(bm[:nm], bp[:np]))
		}
	case k < 8:
		n, off := d.someSize()+1, int64(d.someSize())
		d.logf("pread fd(%s) %d bytes at %d", h.path, n, off)
		bm, bp := make([]byte, n), make([]byte, n)
		nm, em := unix.Pread(h.m, bm, off)
		np, ep := unix.Pread(h.p, bp, off)
		if d.sameErr("pread", em, ep) && !bytes.Equal(bm[:nm], bp[:np]) {
			d.fail("pread: mount got %d bytes, reference %d, first difference at %d", nm, np, diffAt(bm[:nm], bp[:np]))
		}
	case k < 9:
		size := int64(d.someSize())
		if h != nil && d.rng.IntN(2) == 0 {
			d.logf("ftruncate fd(%s) %d", h.path, size)
			d.sameErr("ftruncate", unix.Ftruncate(h.m, size), unix.Ftruncate(h.p, size))
		} else {
			path := d.somePath(true)
			d.logf("truncate %s %d", path, size)
			d.sameErr("truncate", unix.Truncate(filepath.Join(d.mnt, path), size), unix.Truncate(filepath.Join(d.ref, path), size))
		}
	case k < 10:
		off, n := int64(d.someSize()), int64(d.someSize()+1)
		d.logf("fallocate fd(%s) %d at %d", h.path, n, off)
		d.sameErr("fallocate", unix.Fallocate(h.m, 0, off, n), unix.Fallocate(h.p, 0, off, n))
	case k < 11:
		whence := []int{unix.SEEK_SET, unix.SEEK_CUR, unix.SEEK_END}[d.rng.IntN(3)]
		off := int64(d.someSize() - d.chunk)
		if whence == unix.SEEK_SET {
			off = max(0, off)
		}
		d.logf("lseek fd(%s) %d whence %d", h.path, off, whence)
		pm, em := unix.Seek(h.m, off, whence)
		pp, ep := unix.Seek(h.p, off, whence)
		if d.sameErr("lseek", em, ep) && pm != pp && !h.dir {
			d.fail("lseek: mount at %d, reference at %d", pm, pp)
		}
	case k < 12:
		a, b := d.somePath(d.rng.IntN(2) == 0), d.somePath(d.rng.IntN(2) == 0)
		flags := []uint{0, 0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE}[d.rng.IntN(4)]
		d.logf("rename %s %s flags %d", a, b, flags)
		em := unix.Renameat2(unix.AT_FDCWD, filepath.Join(d.mnt, a), unix.AT_FDCWD, filepath.Join(d.mnt, b), flags)
		ep := unix.Renameat2(unix.AT_FDCWD, filepath.Join(d.ref, a), unix.AT_FDCWD, filepath.Join(d.ref, b), flags)
		d.sameErr("rename", em, ep)
	case k < 13:
		a, b := d.somePath(true), d.somePath(false)
		d.logf("link %s %s", a, b)
		d.sameErr("link", unix.Link(filepath.Join(d.mnt, a), filepath.Join(d.mnt, b)),
			unix.Link(filepath.Join(d.ref, a), filepath.Join(d.ref, b)))
	case k < 14:
		path := d.somePath(true)
		d.logf("unlink %s", path)
		d.sameErr("unlink", unix.Unlink(filepath.Join(d.mnt, path)), unix.Unlink(filepath.Join(d.ref, path)))
	case k < 15:
		path := d.somePath(false)
		if d.rng.IntN(3) == 0 {
			d.logf("rmdir %s", path)
			d.sameErr("rmdir", unix.Rmdir(filepath.Join(d.mnt, path)), unix.Rmdir(filepath.Join(d.ref, path)))
		} else {
			d.logf("mkdir %s", path)
			d.sameErr("mkdir", unix.Mkdir(filepath.Join(d.mnt, path), 0o755), unix.Mkdir(filepath.Join(d.ref, path), 0o755))
		}
	case k < 16:
		var sm, sp unix.Stat_t
		d.logf("fstat fd(%s)", h.path)
		if d.sameErr("fstat", unix.Fstat(h.m, &sm), unix.Fstat(h.p, &sp)) {
			if sm.Size != sp.Size && !h.dir || sm.Nlink != sp.Nlink || sm.Mode != sp.Mode {
				d.fail("fstat: mount size %d nlink %d mode %o, reference size %d nlink %d mode %o",
					sm.Size, sm.Nlink, sm.Mode, sp.Size, sp.Nlink, sp.Mode)
			}
		}
	default:
		if d.rng.IntN(3) == 0 {
			d.logf("fsync fd(%s)", h.path)
			d.sameErr("fsync", unix.Fsync(h.m), unix.Fsync(h.p))
			return
		}
		d.closeHandle(h)
	}
}

func (d *differ) closeHandle(h *diffHandle) {
	d.t.Helper()
	d.logf("close fd(%s)", h.path)
	d.sameErr("close", unix.Close(h.m), unix.Close(h.p))
	d.handles = slices.DeleteFunc(d.handles, func(x *diffHandle) bool { return x == h })
}

// diffEntry is what the tree comparison looks at.
type diffEntry struct {
	mode  os.FileMode
	size  int64
	nlink uint64
	data  []byte
}

// snapshot reads a tree: every entry's type and permissions, size and
// link count, and every file's content (with O_DIRECT on the mount if
// direct, so the daemon is asked rather than the page cache).
func snapshot(root string, direct bool) (map[string]diffEntry, error) {
	out := map[string]diffEntry{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		de := diffEntry{mode: fi.Mode(), nlink: uint64(fi.Sys().(*syscall.Stat_t).Nlink)}
		if fi.Mode().IsRegular() {
			de.size = fi.Size()
			if direct {
				de.data, err = readDirect(p)
			} else {
				de.data, err = os.ReadFile(p)
			}
			if err != nil {
				return err
			}
		}
		out[rel] = de
		return nil
	})
	return out, err
}

// compare fails unless the mount and the reference trees are equal.
func (d *differ) compare(direct bool) {
	d.t.Helper()
	sm, err := snapshot(d.mnt, direct)
	if err != nil {
		d.fail("reading mount: %v", err)
	}
	sp, err := snapshot(d.ref, false)
	if err != nil {
		d.fail("reading reference: %v", err)
	}
	for name, ep := range sp {
		em, ok := sm[name]
		switch {
		case !ok:
			d.fail("%s missing on the mount", name)
		case em.mode != ep.mode || em.size != ep.size || em.nlink != ep.nlink:
			d.fail("%s: mount mode %v size %d nlink %d, reference mode %v size %d nlink %d",
				name, em.mode, em.size, em.nlink, ep.mode, ep.size, ep.nlink)
		case !bytes.Equal(em.data, ep.data):
			d.fail("%s: content differs (mount %d bytes, reference %d, first difference at %d)",
				name, len(em.data), len(ep.data), diffAt(em.data, ep.data))
		}
	}
	for name := range sm {
		if _, ok := sp[name]; !ok {
			d.fail("%s exists only on the mount", name)
		}
	}
}

// runDifferential runs ops random operations from seed on a fresh
// vault, comparing after each, then closes everything and compares
// once more through a cold remount.
func runDifferential(t *testing.T, co vault.CreateOptions, seed uint64, ops int) {
	backing, v := newTestVault(t, co)
	m := mountVault(t, v, Options{})
	ref := filepath.Join(t.TempDir(), "ref")
	mnt := filepath.Join(m.dir, "run")
	for _, dir := range []string{ref, mnt} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chunk := co.ChunkSize
	if chunk == 0 {
		chunk = vault.DefaultChunkSize
	}
	d := &differ{t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), gen: newPlainGen(seed), chunk: chunk, mnt: mnt, ref: ref}
	defer func() {
		for _, h := range d.handles {
			unix.Close(h.m)
			unix.Close(h.p)
		}
	}()
	for d.step = 0; d.step < ops; d.step++ {
		d.op()
		d.compare(d.step%2 == 1)
	}
	for len(d.handles) > 0 {
		d.closeHandle(d.handles[0])
	}
	d.compare(true)
	m.unmount(t)
	m2 := mountVault(t, v, Options{})
	d.mnt = filepath.Join(m2.dir, "run")
	d.logf("remount")
	d.compare(true)
	d.gen.assertBackingClean(t, backing)
}

// TestDifferential runs random sequences of open, write, pwrite, read,
// pread, truncate, fallocate, lseek, rename (with flags), link, unlink,
// mkdir, rmdir, fstat, fsync and close on the mount and on a plain
// directory, comparing results, errnos and the whole tree after every
// step. Fixed seeds keep CI reproducible; -fernetfs.long runs many more
// and longer sequences, -fernetfs.seed=N replays one.
func TestDifferential(t *testing.T) {
	requireFuse(t)
	type run struct {
		name string
		co   vault.CreateOptions
	}
	runs := []run{
		{"chunk64", vault.CreateOptions{ChunkSize: 64}},
		{"chunk4096", vault.CreateOptions{}},
		{"plainnames", vault.CreateOptions{ChunkSize: 256, PlaintextNames: true}},
	}
	seeds, ops := []uint64{1, 2}, 300
	if *longTests {
		// About half an hour with -race on two cores.
		seeds, ops = nil, 1500
		for s := uint64(1); s <= 10; s++ {
			seeds = append(seeds, s)
		}
	}
	if *diffSeed != 0 {
		seeds = []uint64{*diffSeed}
	}
	for _, r := range runs {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed%d", r.name, seed), func(t *testing.T) {
				runDifferential(t, r.co, seed, ops)
			})
		}
	}
}
