package fs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// A record is the unit the concurrency test writes and checks: a
// 16-byte cell (magic, slot, owner, sequence number, checksum)
// repeated to the record length. A reader can tell from the bytes
// alone whether it saw one whole record or a mix of two.
const recordMagic = 0x46524e54 // "FRNT"

func recordCell(slot, owner, seq uint32) []byte {
	var c [16]byte
	binary.BigEndian.PutUint32(c[0:], recordMagic)
	binary.BigEndian.PutUint16(c[4:], uint16(slot))
	binary.BigEndian.PutUint16(c[6:], uint16(owner))
	binary.BigEndian.PutUint32(c[8:], seq)
	binary.BigEndian.PutUint32(c[12:], (slot*31+owner)*2654435761^seq)
	return c[:]
}

func makeRecord(n int, slot, owner, seq uint32) []byte {
	return bytes.Repeat(recordCell(slot, owner, seq), n/16+1)[:n]
}

// parsePiece checks that piece, the bytes [at, at+len(piece)) of a
// record for slot, is part of one whole record and returns that
// record's owner and sequence number. The piece must hold a whole
// 16-byte cell.
func parsePiece(piece []byte, at int, slot uint32) (owner, seq uint32, err error) {
	cell := (at + 15) / 16 * 16
	if cell+16 > at+len(piece) {
		return 0, 0, fmt.Errorf("slot %d: piece [%d,+%d) holds no whole cell", slot, at, len(piece))
	}
	c := piece[cell-at:]
	owner = uint32(binary.BigEndian.Uint16(c[6:]))
	seq = binary.BigEndian.Uint32(c[8:])
	want := makeRecord(at+len(piece), slot, owner, seq)[at:]
	if !bytes.Equal(piece, want) {
		return 0, 0, fmt.Errorf("slot %d: torn or foreign data in record bytes [%d,+%d) (owner %d seq %d?), first bad byte at %d",
			slot, at, len(piece), owner, seq, at+diffAt(piece, want))
	}
	return owner, seq, nil
}

// recordPieces splits the record at file offset off into its parts on
// each page: the units a buffered write is guaranteed to apply whole.
func recordPieces(off int64, n int) (starts []int) {
	page := int64(os.Getpagesize())
	for at := 0; at < n; {
		starts = append(starts, at)
		at += int(page - (off+int64(at))%page)
	}
	return starts
}

// TestConcurrentRecords has writers rewrite records through separate
// handles and hard links, and a truncater grow and shrink a tail that
// shares a chunk with the last record, while O_DIRECT readers (whose
// requests reach the daemon concurrently with the writes) read single
// records and pairs of neighbours through both names. Records are
// misaligned with chunks, so neighbouring records owned by different
// writers share chunks and every write is a read-modify-write.
//
// What is atomic: each FUSE request. An O_DIRECT write of a record is
// one WRITE request, so readers must see the whole record from one
// write. A buffered write may reach the daemon as several requests,
// split by the kernel at page boundaries (it sends a partly written page
// that is not cached on its own), so for those records each page-sized
// piece must come from one write (a page holds whole chunks, or is one
// chunk, so a torn chunk still shows). Readers must never get an error
// (a torn ciphertext line fails its MAC) or a piece older than one they
// saw before, and at the end every record holds its owner's last write.
func TestConcurrentRecords(t *testing.T) {
	requireFuse(t)
	for _, c := range []int{vault.DefaultChunkSize, 64} {
		t.Run(fmt.Sprintf("chunk%d", c), func(t *testing.T) {
			testConcurrentRecords(t, c)
		})
	}
}

func testConcurrentRecords(t *testing.T, c int) {
	_, v := newTestVault(t, vault.CreateOptions{ChunkSize: c})
	m := mountVault(t, v, Options{})
	const writers, slots, rounds, readers = 4, 8, 120, 3
	// Writers 2 and 3 write with O_DIRECT, 0 and 1 through the cache.
	directWriter := func(w int) bool { return w >= writers/2 }
	var checkRecord func(rec []byte, slot int, starts []int, seen []uint32) error
	recLen := 3*c + c/2 + 5
	base := int64(c / 3)
	slotOff := func(s int) int64 { return base + int64(s*recLen) }
	end := slotOff(slots)

	p := filepath.Join(m.dir, "records")
	alias := filepath.Join(m.dir, "alias")
	init := make([]byte, end)
	for s := range slots {
		copy(init[slotOff(s):], makeRecord(recLen, uint32(s), uint32(s%writers), 0))
	}
	if err := os.WriteFile(p, init, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, alias); err != nil {
		t.Fatal(err)
	}

	// pieces[s] are the starts of slot s's atomic units: the whole
	// record for O_DIRECT writers, page pieces for buffered ones.
	pieces := make([][]int, slots)
	for s := range slots {
		pieces[s] = []int{0}
		if directWriter(s % writers) {
			continue
		}
		pieces[s] = recordPieces(slotOff(s), recLen)
		for i, at := range pieces[s] {
			end := recLen
			if i+1 < len(pieces[s]) {
				end = pieces[s][i+1]
			}
			if (at+15)/16*16+16 > end {
				t.Fatalf("layout error: slot %d piece [%d,%d) holds no whole cell", s, at, end)
			}
		}
	}
	// checkRecord verifies one record as read: every atomic unit from
	// one write by the slot's owner, none older than seen before.
	checkRecord = func(rec []byte, slot int, starts []int, seen []uint32) error {
		for i, at := range starts {
			end := len(rec)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			owner, seq, err := parsePiece(rec[at:end], at, uint32(slot))
			if err != nil {
				return err
			}
			if owner != uint32(slot%writers) {
				return fmt.Errorf("slot %d written by %d, which does not own it", slot, owner)
			}
			if seq < seen[i] {
				return fmt.Errorf("slot %d bytes [%d,%d) went back from seq %d to %d", slot, at, end, seen[i], seq)
			}
			seen[i] = seq
		}
		return nil
	}

	var wg sync.WaitGroup
	var writing atomic.Int32
	errs := make(chan error, writers+readers+2)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	writing.Store(writers + 1)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer writing.Add(-1)
			name, flags := p, os.O_RDWR
			if w%2 == 1 {
				name = alias
			}
			if directWriter(w) {
				flags |= unix.O_DIRECT
			}
			f, err := os.OpenFile(name, flags, 0)
			if err != nil {
				report(err)
				return
			}
			defer f.Close()
			for seq := uint32(1); seq <= rounds; seq++ {
				for s := w; s < slots; s += writers {
					if _, err := f.WriteAt(makeRecord(recLen, uint32(s), uint32(w), seq), slotOff(s)); err != nil {
						report(fmt.Errorf("writer %d: %w", w, err))
						return
					}
				}
			}
		}()
	}
	// The truncater moves the end of file inside the chunk after the
	// last record and back, so the chunk holding the last record's end
	// is re-sealed as last and as non-last chunk over and over.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer writing.Add(-1)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			report(err)
			return
		}
		defer f.Close()
		for i := range rounds {
			size := end + int64(i%5*c/3)
			if i%7 == 3 {
				size = end + int64(3*c+1)
			}
			if err := f.Truncate(size); err != nil {
				report(fmt.Errorf("truncate to %d: %w", size, err))
				return
			}
		}
		if err := f.Truncate(end); err != nil {
			report(err)
		}
	}()
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := p
			if r%2 == 1 {
				name = alias
			}
			f, err := os.OpenFile(name, os.O_RDONLY|unix.O_DIRECT, 0)
			if err != nil {
				report(err)
				return
			}
			defer f.Close()
			seen := make([][]uint32, slots)
			for s := range seen {
				seen[s] = make([]uint32, len(pieces[s]))
			}
			buf := make([]byte, 2*recLen)
			for i := 0; writing.Load() > 0 || i < 10; i++ {
				s := (i*5 + r) % slots
				n := 1 + i%2
				if s+n > slots {
					n = 1
				}
				got, err := f.ReadAt(buf[:n*recLen], slotOff(s))
				if err != nil && !errors.Is(err, io.EOF) {
					report(fmt.Errorf("reader %d: read at %d: %w", r, slotOff(s), err))
					return
				}
				if got != n*recLen {
					report(fmt.Errorf("reader %d: short read of records %d..%d: %d bytes", r, s, s+n-1, got))
					return
				}
				for k := range n {
					slot := s + k
					rec := buf[k*recLen : (k+1)*recLen]
					if err := checkRecord(rec, slot, pieces[slot], seen[slot]); err != nil {
						report(fmt.Errorf("reader %d: %w", r, err))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	want := slices.Clone(init)
	for s := range slots {
		copy(want[slotOff(s):], makeRecord(recLen, uint32(s), uint32(s%writers), rounds))
	}
	expectContent(t, p, want)
	expectContent(t, alias, want)
	m.unmount(t)
	m2 := mountVault(t, v, Options{})
	expectContent(t, filepath.Join(m2.dir, "records"), want)
}

// TestConcurrentDirOps runs creates, writes, renames, hard links,
// unlinks, mkdir/rmdir and renames over one shared name, all in ONE
// directory from several goroutines (short and long names, so long-name
// sidecars are created and removed concurrently), while listers read
// the directory and openers read the shared name. Listings must never
// show a duplicate or a foreign name, the shared name must always open
// as one writer's complete file, and the end state, including the
// backing directory's sidecars, must be exactly what the operations
// leave, before and after a remount.
func TestConcurrentDirOps(t *testing.T) {
	requireFuse(t)
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	dir := filepath.Join(m.dir, "shared-dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const workers, iters = 4, 60
	long := strings.Repeat("L", 150)
	name := func(w, i int, suffix string) string {
		n := fmt.Sprintf("w%d-%d%s", w, i, suffix)
		if i%3 == 0 {
			n += "-" + long
		}
		return n
	}
	content := func(n string) []byte { return bytes.Repeat([]byte(n+"|"), 40) }
	sharedContent := func(w, i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("shared by %d at %d;", w, i)), 300)
	}
	valid := func(n string) bool {
		return n == "shared" || strings.HasPrefix(n, "w") || strings.HasPrefix(n, "tmp-") || strings.HasPrefix(n, "d")
	}

	var wg sync.WaitGroup
	var running atomic.Int32
	var sharedReads atomic.Int64
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	running.Store(workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer running.Add(-1)
			for i := range iters {
				a := filepath.Join(dir, name(w, i, ""))
				if err := os.WriteFile(a, content(name(w, i, "-r")), 0o644); err != nil {
					report(err)
					return
				}
				r := filepath.Join(dir, name(w, i, "-r"))
				if err := os.Rename(a, r); err != nil {
					report(err)
					return
				}
				if i%2 == 0 {
					if err := os.Link(r, filepath.Join(dir, name(w, i, "-l"))); err != nil {
						report(err)
						return
					}
				}
				if i%4 == 1 {
					if err := os.Remove(r); err != nil {
						report(err)
						return
					}
				}
				d := filepath.Join(dir, fmt.Sprintf("d%d-%d", w, i))
				if err := os.Mkdir(d, 0o755); err != nil {
					report(err)
					return
				}
				if i%2 == 1 {
					if err := os.Remove(d); err != nil {
						report(err)
						return
					}
				}
				// Everyone replaces "shared" atomically.
				tmp := filepath.Join(dir, fmt.Sprintf("tmp-%d", w))
				if err := os.WriteFile(tmp, sharedContent(w, i), 0o644); err != nil {
					report(err)
					return
				}
				if err := os.Rename(tmp, filepath.Join(dir, "shared")); err != nil {
					report(err)
					return
				}
			}
		}()
	}
	for l := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for running.Load() > 0 {
				if l == 0 {
					ents, err := os.ReadDir(dir)
					if err != nil {
						report(fmt.Errorf("readdir: %w", err))
						return
					}
					seen := map[string]bool{}
					for _, e := range ents {
						if seen[e.Name()] || !valid(e.Name()) {
							report(fmt.Errorf("readdir: duplicate or foreign name %q", e.Name()))
							return
						}
						seen[e.Name()] = true
					}
					continue
				}
				data, err := os.ReadFile(filepath.Join(dir, "shared"))
				if errors.Is(err, os.ErrNotExist) {
					// Before the first rename it does not exist.
					// After it, only a double race: the file the
					// kernel looked up was replaced before the
					// open reached us, and so was the one its
					// single retry found (a FUSE daemon cannot
					// open a deleted inode it holds no fd for).
					// TestOpenAfterReplace checks the single race
					// deterministically.
					continue
				}
				if err != nil {
					report(fmt.Errorf("read shared: %w", err))
					return
				}
				var w, i int
				if _, err := fmt.Sscanf(string(data), "shared by %d at %d;", &w, &i); err != nil || !bytes.Equal(data, sharedContent(w, i)) {
					report(fmt.Errorf("shared holds %d bytes that are no writer's complete file: %.40q", len(data), data))
					return
				}
				sharedReads.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if sharedReads.Load() == 0 {
		t.Error("the opener never read the shared file")
	}
	if t.Failed() {
		return
	}

	// The expected end state.
	want := map[string]int{} // name -> link count
	for w := range workers {
		for i := range iters {
			links := 1
			if i%2 == 0 {
				links = 2
				want[name(w, i, "-l")] = 2
			}
			if i%4 != 1 {
				want[name(w, i, "-r")] = links
			} else if links == 2 {
				want[name(w, i, "-l")] = 1
			}
			if i%2 == 0 {
				want[fmt.Sprintf("d%d-%d", w, i)] = 2
			}
		}
	}
	check := func(dir string) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, "shared"))
		if err != nil {
			t.Fatalf("shared: %v", err)
		}
		var w, i int
		if _, err := fmt.Sscanf(string(data), "shared by %d at %d;", &w, &i); err != nil || i != iters-1 || !bytes.Equal(data, sharedContent(w, i)) {
			t.Errorf("shared does not hold a last complete write: %.40q", data)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, e := range ents {
			got[e.Name()] = true
			if e.Name() == "shared" {
				continue
			}
			n, ok := want[e.Name()]
			if !ok {
				t.Errorf("unexpected entry %q", e.Name())
				continue
			}
			fi, err := os.Lstat(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Error(err)
				continue
			}
			if nl := fi.Sys().(*syscall.Stat_t).Nlink; int(nl) != n {
				t.Errorf("%s: nlink %d, want %d", e.Name(), nl, n)
			}
			if fi.Mode().IsRegular() {
				base := strings.TrimSuffix(strings.TrimSuffix(e.Name(), "-"+long), "-l")
				base = strings.TrimSuffix(base, "-r")
				if i := strings.LastIndexByte(base, '-'); i > 0 {
					var w, k int
					fmt.Sscanf(base, "w%d-%d", &w, &k)
					expectContent(t, filepath.Join(dir, e.Name()), content(name(w, k, "-r")))
				}
			}
		}
		for n := range want {
			if !got[n] {
				t.Errorf("missing entry %q", n)
			}
		}
	}
	check(dir)

	// Backing: one entry per name, a sidecar per long name, the IV.
	bdir, err := v.ResolvePath("shared-dir")
	if err != nil {
		t.Fatal(err)
	}
	bents, err := os.ReadDir(bdir)
	if err != nil {
		t.Fatal(err)
	}
	longs := 0
	for n := range want {
		if strings.HasSuffix(n, long) {
			longs++
		}
	}
	if wantN := len(want) + 1 + longs + 1; len(bents) != wantN {
		t.Errorf("backing directory has %d entries, want %d (%d names + shared, %d long-name sidecars, the IV)",
			len(bents), wantN, len(want), longs)
	}

	m.unmount(t)
	m2 := mountVault(t, v, Options{})
	check(filepath.Join(m2.dir, "shared-dir"))
	assertNoPlaintext(t, backing, []byte("shared by"))
	assertNoPlaintext(t, backing, []byte("LLLLLLLL"))
}

// TestOpenAfterReplace checks opens that reach the daemon for a file
// that was replaced after the kernel looked it up. The single race is
// made deterministic by replacing the file in BACKING, behind the
// kernel's cached dentry: the open must then find the new file (the
// daemon answers ESTALE and the kernel looks the name up again), never
// fail and never show the old inode's attributes with the new content.
// Reopening a replaced file through an O_PATH descriptor cannot find a
// new file by name: it must fail with ENOENT (not ESTALE, which
// programs do not expect) or give the old content, never the new.
func TestOpenAfterReplace(t *testing.T) {
	requireFuse(t)
	_, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	oldData, newData := []byte("old content"), []byte("the new, longer content")
	p := filepath.Join(m.dir, "f")
	if err := os.WriteFile(p, oldData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, "g"), newData, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil { // the kernel caches f's dentry
		t.Fatal(err)
	}
	bf, err := v.ResolvePath("f")
	if err != nil {
		t.Fatal(err)
	}
	bg, err := v.ResolvePath("g")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bg, bf); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("open of a file replaced behind a cached lookup: %v", err)
	}
	if !bytes.Equal(got, newData) {
		t.Errorf("read %q, want the new file's %q", got, newData)
	}

	q := filepath.Join(m.dir, "h")
	if err := os.WriteFile(q, oldData, 0o644); err != nil {
		t.Fatal(err)
	}
	pathFd, err := unix.Open(q, unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pathFd)
	if err := os.WriteFile(q+".tmp", newData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q+".tmp", q); err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", pathFd))
	switch {
	case errors.Is(err, syscall.ENOENT):
	case err != nil:
		t.Errorf("reopening a replaced file: %v, want ENOENT or its old content", err)
	case !bytes.Equal(got, oldData):
		t.Errorf("reopening a replaced file read %q, want its old content %q", got, oldData)
	}
}

// TestStaleOpenAnswers checks the policy for opens of vanished files:
// a thread's first gets ESTALE (the kernel retries the lookup once), a
// second in a row ENOENT (no retry follows), and a successful open in
// between starts over; threads are independent.
func TestStaleOpenAnswers(t *testing.T) {
	var s staleOpens
	ctx := func(pid uint32) *fuse.Context { return &fuse.Context{Caller: fuse.Caller{Pid: pid}} }
	steps := []struct {
		pid  uint32
		in   syscall.Errno
		ok   bool // an open that succeeded instead
		want syscall.Errno
	}{
		{pid: 1, in: syscall.EACCES, want: syscall.EACCES},
		{pid: 1, in: syscall.ESTALE, want: syscall.ESTALE},
		{pid: 2, in: syscall.ESTALE, want: syscall.ESTALE},
		{pid: 1, in: syscall.ESTALE, want: syscall.ENOENT},
		{pid: 1, in: syscall.ESTALE, want: syscall.ESTALE},
		{pid: 1, ok: true},
		{pid: 1, in: syscall.ESTALE, want: syscall.ESTALE},
		{pid: 2, in: syscall.ESTALE, want: syscall.ENOENT},
	}
	for i, st := range steps {
		if st.ok {
			s.opened(ctx(st.pid))
			continue
		}
		if got := s.answer(ctx(st.pid), st.in); got != st.want {
			t.Errorf("step %d: thread %d, %v: answered %v, want %v", i, st.pid, st.in, got, st.want)
		}
	}
}
