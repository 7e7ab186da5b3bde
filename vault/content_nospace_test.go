package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
)

// disk is a simulated filesystem's free space, in 4 KiB pages, shared by
// the pageBackings on it.
type disk struct {
	mu   sync.Mutex
	free int
}

const diskPage = 4096

// pageBacking is a backing file on a disk that behaves as tmpfs and ext4
// do when full: a write allocates the pages it touches that have none, in
// order, and stops with ENOSPC (after writing the pages before it) at the
// first one it cannot get; rewriting allocated bytes never fails; a
// truncate frees the pages past the new end; Reserve (fallocate with
// FALLOC_FL_KEEP_SIZE) allocates all of a range or nothing. Unallocated
// pages read as zeros. Every WriteAt and Truncate is logged (when log is
// not nil), so a crash can be replayed between any two of them.
type pageBacking struct {
	d     *disk
	mu    sync.Mutex
	data  []byte
	pages map[int64]bool
	log   *[]backingOp
	// failCut makes the next truncate that shrinks the file fail with
	// EIO, changing nothing.
	failCut bool
	// failWrite makes the next write that reaches the page holding
	// byte failAt fail there with failErr (EIO, as a failing device
	// does, or ENOSPC, as a copy-on-write filesystem may even for a
	// rewrite of allocated bytes).
	failWrite bool
	failAt    int64
	failErr   syscall.Errno
}

// backingOp is one logged change: a write of data at off, or (data nil)
// a truncate to off.
type backingOp struct {
	off  int64
	data []byte
}

func newPageBacking(d *disk) *pageBacking {
	return &pageBacking{d: d, pages: map[int64]bool{}}
}

func (b *pageBacking) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off >= int64(len(b.data)) {
		return 0, io.EOF
	}
	n := copy(p, b.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b *pageBacking) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	n := 0
	for n < len(p) {
		at := off + int64(n)
		pg := at / diskPage
		if b.failWrite && b.failAt/diskPage == pg {
			b.failWrite = false
			b.logOp(off, p[:n])
			return n, &os.PathError{Op: "write", Path: "backing", Err: b.failErr}
		}
		if !b.pages[pg] {
			if b.d.free == 0 {
				b.logOp(off, p[:n])
				return n, &os.PathError{Op: "write", Path: "backing", Err: syscall.ENOSPC}
			}
			b.d.free--
			b.pages[pg] = true
		}
		m := min(int64(len(p)-n), (pg+1)*diskPage-at)
		if end := at + m; end > int64(len(b.data)) {
			b.data = append(b.data, make([]byte, end-int64(len(b.data)))...)
		}
		copy(b.data[at:], p[n:n+int(m)])
		n += int(m)
	}
	b.logOp(off, p)
	return n, nil
}

func (b *pageBacking) logOp(off int64, p []byte) {
	if b.log != nil && len(p) > 0 {
		*b.log = append(*b.log, backingOp{off, bytes.Clone(p)})
	}
}

func (b *pageBacking) Truncate(size int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	if b.failCut && size < int64(len(b.data)) {
		b.failCut = false
		return &os.PathError{Op: "truncate", Path: "backing", Err: syscall.EIO}
	}
	if b.log != nil {
		*b.log = append(*b.log, backingOp{off: size})
	}
	b.truncateLocked(size)
	return nil
}

func (b *pageBacking) truncateLocked(size int64) {
	if size <= int64(len(b.data)) {
		b.data = b.data[:size]
		for pg := range b.pages {
			if pg*diskPage >= size {
				delete(b.pages, pg)
				b.d.free++
			}
		}
		return
	}
	b.data = append(b.data, make([]byte, size-int64(len(b.data)))...)
}

func (b *pageBacking) Reserve(off, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	var need []int64
	for pg := off / diskPage; pg*diskPage < off+n; pg++ {
		if !b.pages[pg] {
			need = append(need, pg)
		}
	}
	if len(need) > b.d.free {
		return syscall.ENOSPC
	}
	for _, pg := range need {
		b.pages[pg] = true
	}
	b.d.free -= len(need)
	return nil
}

func (b *pageBacking) Stat() (os.FileInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return memInfo(len(b.data)), nil
}

func (b *pageBacking) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.data)
}

// noSpaceFile is one file of TestContentNoSpace with its expected
// content.
type noSpaceFile struct {
	b     *pageBacking
	c     *Content
	model []byte
}

// TestContentNoSpace runs appends, overwrites (of data and of holes),
// truncates up and down, allocations and new files on a nearly full
// disk. Whatever fails must fail with ENOSPC, change nothing but whole
// chunks it reports as written, and leave every file (this one and the
// others) reading as before and passing Check, through the same Content
// and a fresh one.
func TestContentNoSpace(t *testing.T) {
	for _, cs := range []int{64, 4096} {
		t.Run(fmt.Sprint(cs), func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 7))
			v := fixedVault(cs)
			d := &disk{free: cs/256 + 2 + r.IntN(cs/256+3)}
			var files []*noSpaceFile
			failures := 0
			for step := 0; step < 400; step++ {
				if len(files) == 0 || r.IntN(12) == 0 {
					b := newPageBacking(d)
					files = append(files, &noSpaceFile{b: b, c: v.OpenContent(b, fmt.Sprint("f", len(files)))})
				}
				f := files[r.IntN(len(files))]
				size := int64(len(f.model))
				var what string
				var n int
				var err error
				var p []byte
				var off int64
				switch op := r.IntN(10); {
				case op < 4: // append
					p, off = randBytes(r, 1+r.IntN(3*cs)), size
				case op < 7: // overwrite, maybe past the end
					off = r.Int64N(size + 1)
					p = randBytes(r, 1+r.IntN(3*cs))
				case op < 8:
					newSize := r.Int64N(size + 4*int64(cs) + 1)
					what = fmt.Sprintf("truncate %d -> %d", size, newSize)
					if err = f.c.Truncate(newSize); err == nil {
						f.model = resize(f.model, newSize)
					}
				case op < 9:
					off = r.Int64N(size + 2*int64(cs) + 1)
					ln := 1 + r.Int64N(3*int64(cs))
					what = fmt.Sprintf("allocate %d@%d (size %d)", ln, off, size)
					if err = f.c.Allocate(off, ln, r.IntN(2) == 0); err == nil {
						f.model = resize(f.model, max(size, off+ln))
						if s, _ := f.c.Size(); s < int64(len(f.model)) {
							f.model = f.model[:s] // KEEP_SIZE
						}
					}
				default: // shrink to free space, or fail to
					newSize := r.Int64N(size + 1)
					f.b.failCut = r.IntN(4) == 0
					what = fmt.Sprintf("truncate %d -> %d (failing cut: %v)", size, newSize, f.b.failCut)
					armed := f.b.failCut
					if err = f.c.Truncate(newSize); err == nil {
						f.model = resize(f.model, newSize)
					} else if armed && !f.b.failCut && errors.Is(err, syscall.EIO) {
						err = nil // the cut failed as told: nothing may change
					}
					f.b.failCut = false
				}
				if p != nil {
					what = fmt.Sprintf("write %d@%d (size %d)", len(p), off, size)
					n, err = f.c.WriteAt(p, off)
					end := off + int64(n)
					if err == nil {
						end = off + int64(len(p))
					}
					if end > off {
						f.model = resize(f.model, max(int64(len(f.model)), end))
						copy(f.model[off:], p[:end-off])
					}
				}
				if err != nil {
					failures++
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("step %d %s: %v, want ENOSPC", step, what, err)
					}
				}
				for i, g := range files {
					checkNoSpaceFile(t, v, g, fmt.Sprintf("step %d %s (err %v, wrote %d): file %d", step, what, err, n, i))
				}
			}
			if failures == 0 {
				t.Fatal("no operation ran out of space")
			}
			t.Logf("%d operations failed with ENOSPC", failures)
		})
	}
}

func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

// checkNoSpaceFile checks f's content and layout through its Content and
// a fresh one.
func checkNoSpaceFile(t *testing.T, v *Vault, f *noSpaceFile, what string) {
	t.Helper()
	for _, c := range []*Content{f.c, v.OpenContent(f.b, "fresh")} {
		if err := c.Check(nil); err != nil {
			t.Fatalf("%s: Check: %v", what, err)
		}
		size, err := c.Size()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := make([]byte, size)
		if size > 0 {
			if n, err := c.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
				t.Fatalf("%s: read %d of %d bytes: %v", what, n, size, err)
			}
		}
		if !bytes.Equal(got, f.model) {
			t.Fatalf("%s: content differs (size %d, want %d, first difference at %d)", what, len(got), len(f.model), firstDiff(got, f.model))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestContentCrashStates replays every prefix of the backing writes and
// truncates of random appends, overwrites, truncates and allocations, as
// a kill -9 of the mount between two system calls leaves them (the page
// cache keeps what was written). Each such file must read as the old or
// the new content, or be rejected, and then cutting it to the old or the
// new backing size (what fsck --repair does with a torn tail) must give
// that content: nothing acknowledged before the operation is lost.
func TestContentCrashStates(t *testing.T) {
	for _, cs := range []int{64, 4096} {
		t.Run(fmt.Sprint(cs), func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 8))
			v := fixedVault(cs)
			b := newPageBacking(&disk{free: 1 << 30})
			var log []backingOp
			b.log = &log
			c := v.OpenContent(b, "f")
			var model []byte
			for step := 0; step < 300; step++ {
				size := int64(len(model))
				before := b.bytes()
				oldModel := bytes.Clone(model)
				log = log[:0]
				var what string
				switch op := r.IntN(10); {
				case op < 4:
					p := randBytes(r, 1+r.IntN(3*cs))
					what = fmt.Sprintf("append %d to %d", len(p), size)
					mustWrite(t, c, p, size)
					model = append(model, p...)
				case op < 7:
					off := r.Int64N(size + int64(cs) + 1)
					p := randBytes(r, 1+r.IntN(3*cs))
					what = fmt.Sprintf("write %d@%d (size %d)", len(p), off, size)
					mustWrite(t, c, p, off)
					model = resize(model, max(size, off+int64(len(p))))
					copy(model[off:], p)
				case op < 9:
					newSize := r.Int64N(size + 3*int64(cs) + 1)
					if r.IntN(2) == 0 {
						newSize = r.Int64N(size + 1)
					}
					what = fmt.Sprintf("truncate %d -> %d", size, newSize)
					if err := c.Truncate(newSize); err != nil {
						t.Fatal(err)
					}
					model = resize(model, newSize)
				default:
					off, ln := r.Int64N(size+int64(cs)+1), 1+r.Int64N(2*int64(cs))
					what = fmt.Sprintf("allocate %d@%d (size %d)", ln, off, size)
					if err := c.Allocate(off, ln, false); err != nil {
						t.Fatal(err)
					}
					model = resize(model, max(size, off+ln))
				}
				if len(model) > 12*cs {
					// Keep the file small; this step is not replayed.
					if err := c.Truncate(int64(cs)); err != nil {
						t.Fatal(err)
					}
					model = model[:cs]
					continue
				}
				for k := 0; k <= len(log); k++ {
					state := bytes.Clone(before)
					for _, o := range log[:k] {
						if o.data == nil {
							state = resize(state, o.off)
							continue
						}
						state = resize(state, max(int64(len(state)), o.off+int64(len(o.data))))
						copy(state[o.off:], o.data)
					}
					checkCrashState(t, v, state, oldModel, model, fmt.Sprintf("step %d %s, after %d of %d backing changes", step, what, k, len(log)))
				}
			}
		})
	}
}

// checkCrashState checks one state a crash can leave (see
// TestContentCrashStates).
func checkCrashState(t *testing.T, v *Vault, state, oldModel, newModel []byte, what string) {
	t.Helper()
	read := func(b []byte) ([]byte, bool) {
		c := v.OpenContent(&memBacking{data: b}, "crash")
		if c.Check(nil) != nil {
			return nil, false
		}
		size, err := c.Size()
		if err != nil {
			return nil, false
		}
		got := make([]byte, size)
		if n, err := c.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
			return nil, false
		}
		return got, true
	}
	if got, ok := read(bytes.Clone(state)); ok {
		if !bytes.Equal(got, oldModel) && !bytes.Equal(got, newModel) {
			t.Fatalf("%s: reads with success as %d bytes, neither the old (%d) nor the new (%d) content", what, len(got), len(oldModel), len(newModel))
		}
		return
	}
	lay := newLayout(v.ChunkSize())
	for _, m := range [][]byte{oldModel, newModel} {
		s := lay.backingSize(int64(len(m)))
		if s > int64(len(state)) {
			continue
		}
		if got, ok := read(bytes.Clone(state[:s])); ok && bytes.Equal(got, m) {
			return
		}
	}
	t.Fatalf("%s: rejected, and neither the old nor the new content survives (backing %d bytes)", what, len(state))
}

// TestContentAllocateReserves allocates a range (growing the file or
// not, with and without KEEP_SIZE), then uses up the disk, then writes
// the whole range in random pieces: none may fail for lack of space.
func TestContentAllocateReserves(t *testing.T) {
	for _, cs := range []int{64, 4096} {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprint(cs, keep), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(cs), 11))
				v := fixedVault(cs)
				d := &disk{free: 1 << 20}
				b := newPageBacking(d)
				c := v.OpenContent(b, "f")
				head := randBytes(r, 3*cs+5)
				mustWrite(t, c, head, 0)
				model := bytes.Clone(head)
				// A hole in the middle of the file, then the range: from
				// inside the file to past its end.
				if err := c.Truncate(int64(12*cs + 7)); err != nil {
					t.Fatal(err)
				}
				model = resize(model, int64(12*cs+7))
				off, n := int64(2*cs+3), int64(20*cs+11)
				if err := c.Allocate(off, n, keep); err != nil {
					t.Fatal(err)
				}
				if !keep {
					model = resize(model, off+n)
				}
				d.mu.Lock()
				d.free = 0
				d.mu.Unlock()
				for pos := off; pos < off+n; {
					k := min(1+r.Int64N(int64(3*cs)), off+n-pos)
					p := randBytes(r, int(k))
					if _, err := c.WriteAt(p, pos); err != nil {
						t.Fatalf("write %d at %d into the allocated range: %v", k, pos, err)
					}
					model = resize(model, max(int64(len(model)), pos+k))
					copy(model[pos:], p)
					pos += k
				}
				f := &noSpaceFile{b: b, c: c, model: model}
				checkNoSpaceFile(t, v, f, "after writing the range")
			})
		}
	}
}

// TestContentIOError makes random writes and truncates fail part way
// with EIO, as a failing device does, or with ENOSPC at any page, as a
// copy-on-write filesystem may. A failed truncate must change
// nothing; a failed write may only have replaced the whole chunks it
// reports as written, and may leave at most one chunk torn, one that the
// write was replacing entirely (its old bytes were never read, so
// nothing can put them back), which readers then reject.
func TestContentIOError(t *testing.T) {
	for _, cs := range []int{64, 4096} {
		t.Run(fmt.Sprint(cs), func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 12))
			v := fixedVault(cs)
			lay := newLayout(cs)
			b := newPageBacking(&disk{free: 1 << 30})
			f := &noSpaceFile{b: b, c: v.OpenContent(b, "f")}
			failures, torn := 0, 0
			for step := 0; step < 400; step++ {
				size := int64(len(f.model))
				if size > int64(16*cs) {
					if err := f.c.Truncate(int64(cs)); err != nil {
						t.Fatal(err)
					}
					f.model = f.model[:cs]
					continue
				}
				b.failWrite = r.IntN(2) == 0
				b.failAt = r.Int64N(lay.backingSize(size+int64(4*cs)) + 1)
				b.failErr = syscall.EIO
				if r.IntN(2) == 0 {
					b.failErr = syscall.ENOSPC
				}
				var what string
				var err error
				if r.IntN(4) == 0 {
					newSize := r.Int64N(size + int64(3*cs) + 1)
					what = fmt.Sprintf("truncate %d -> %d", size, newSize)
					if err = f.c.Truncate(newSize); err == nil {
						f.model = resize(f.model, newSize)
					}
				} else {
					off := r.Int64N(size + int64(cs) + 1)
					p := randBytes(r, 1+r.IntN(3*cs))
					what = fmt.Sprintf("write %d@%d (size %d)", len(p), off, size)
					var n int
					n, err = f.c.WriteAt(p, off)
					if err == nil {
						n = len(p)
					}
					if n > 0 {
						f.model = resize(f.model, max(size, off+int64(n)))
						copy(f.model[off:], p[:n])
					}
					if err != nil {
						what += fmt.Sprintf(" (failing at backing byte %d; %d written)", b.failAt, n)
						// A torn chunk may only be one the write replaced
						// wholly.
						bad := checkChunksBut(t, v, b, f.model, what)
						if len(bad) > 1 {
							t.Fatalf("%s: chunks %v torn", what, bad)
						}
						for _, i := range bad {
							cs64 := int64(cs)
							if i*cs64 < off || min((i+1)*cs64, max(size, off+int64(len(p)))) > off+int64(len(p)) || i*cs64 >= size {
								t.Fatalf("%s: chunk %d torn, which the write did not replace wholly", what, i)
							}
							// Put it back, as the writer would after EIO.
							lo, hi := i*cs64, min((i+1)*cs64, int64(len(f.model)))
							mustWrite(t, v.OpenContent(b, "fix"), p[lo-off:hi-off], lo)
							copy(f.model[lo:hi], p[lo-off:hi-off])
							torn++
						}
					}
				}
				b.failWrite = false
				if err != nil {
					failures++
					if !errors.Is(err, b.failErr) {
						t.Fatalf("step %d %s: %v, want %v", step, what, err, b.failErr)
					}
				}
				f.c = v.OpenContent(b, "f") // forget the cached size
				checkNoSpaceFile(t, v, f, fmt.Sprintf("step %d %s (err %v)", step, what, err))
			}
			if failures == 0 {
				t.Fatal("no operation failed")
			}
			t.Logf("%d operations failed with EIO, %d left a torn chunk", failures, torn)
		})
	}
}

// checkChunksBut reads every chunk of b and compares it with model; it
// fails the test for a chunk that reads but differs, and returns the
// chunks that do not read.
func checkChunksBut(t *testing.T, v *Vault, b *pageBacking, model []byte, what string) (bad []int64) {
	t.Helper()
	c := v.OpenContent(&memBacking{data: b.bytes()}, "check")
	size, err := c.Size()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if size != int64(len(model)) {
		t.Fatalf("%s: size %d, want %d", what, size, len(model))
	}
	cs := int64(v.ChunkSize())
	for i := int64(0); i*cs < size; i++ {
		lo, hi := i*cs, min((i+1)*cs, size)
		got := make([]byte, hi-lo)
		if _, err := c.ReadAt(got, lo); err != nil && !(errors.Is(err, io.EOF) && hi == size) {
			bad = append(bad, i)
		} else if !bytes.Equal(got, model[lo:hi]) {
			t.Fatalf("%s: chunk %d differs", what, i)
		}
	}
	return bad
}
