package fs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// helperServe mounts the vault at args[0] (test password) on args[1],
// says "mounted" on stdout and serves until it is killed.
func helperServe(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want backing mountpoint, got %q", args)
	}
	v, err := vault.Unlock(args[0], vault.Credential{Password: testPassword})
	if err != nil {
		return err
	}
	srv, err := Mount(v, args[1], Options{})
	if err != nil {
		return err
	}
	fmt.Println("mounted")
	srv.Wait()
	return v.StopJournal()
}

// daemon is a mount served by a child process (helperServe), which a
// test may kill -9.
type daemon struct {
	cmd *exec.Cmd
	mnt string
}

// startDaemon mounts backing at mnt in a child process and returns once
// the mount is there.
func startDaemon(t *testing.T, backing, mnt string) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], backing, mnt)
	cmd.Env = append(os.Environ(), helperEnv+"=serve")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errBuf syncBuffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, mnt: mnt}
	t.Cleanup(func() { d.kill(t) })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "mounted\n" {
			t.Fatalf("daemon: %q %s", s, errBuf.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("daemon did not mount: %s", errBuf.String())
	}
	return d
}

// kill kills the daemon with SIGKILL (if it still runs) and removes its
// dead mount.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if d.cmd.ProcessState == nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	}
	if isMounted(t, d.mnt) {
		if err := unix.Unmount(d.mnt, 0); err != nil {
			unix.Unmount(d.mnt, unix.MNT_DETACH)
		}
	}
	if isMounted(t, d.mnt) {
		t.Errorf("%s is still mounted", d.mnt)
	}
}

// crashFile is one file of TestCrashKeepsData: what the mount
// acknowledged, and the operation under way when the daemon died.
type crashFile struct {
	name string
	cur  []byte
	// next lists the contents the file may have if the daemon died
	// during the operation under way (nil: none under way). It is
	// computed only when needed, to keep the workload's own work small
	// next to the daemon's.
	next func() [][]byte
}

// TestCrashKeepsData kills the mount daemon with SIGKILL at a random
// moment while files are appended to, overwritten, truncated and
// fsync'd, in 60 rounds. After each kill, what fsck --repair does is
// done (torn lines put back from the daemon's undo journal, torn tails
// cut; the journal removed), and then every file, read offline, must
// hold exactly what the mount acknowledged (the daemon writes the
// backing before replying, and the page cache outlives the process),
// except the file being changed, which may instead hold the content
// after that change or after a prefix of it (whole pages of a write,
// which the kernel may send as several requests). No torn chunk is
// tolerated: nothing may read damaged, silently short, empty or
// different, and fsck must be clean at the end.
func TestCrashKeepsData(t *testing.T) {
	requireFuse(t)
	// A tmpfs BACKING: fsync costs nothing there, so the kills land
	// in the writes rather than in waits for the disk.
	backing := filepath.Join(smallTmpfs(t, 128<<20), "backing")
	if err := os.Mkdir(backing, 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, err := vault.Create(backing, testPassword, vault.CreateOptions{Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 10))
	files := make([]*crashFile, 4)
	for i := range files {
		files[i] = &crashFile{name: fmt.Sprintf("f%d", i)}
	}
	const rounds = 60
	kills := 0
	for round := range rounds {
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		d := startDaemon(t, backing, mnt)
		delay := time.Duration(r.Int64N(int64(15 * time.Millisecond)))
		killed := make(chan struct{})
		timer := time.AfterFunc(delay, func() {
			d.cmd.Process.Kill()
			close(killed)
		})
		ops := crashWorkload(t, r, mnt, files, killed)
		timer.Stop()
		d.kill(t)
		kills++
		what := fmt.Sprintf("round %d (kill after %v, %d operations)", round, delay, ops)
		js, errs := v.OpenJournals(true)
		if len(errs) > 0 || len(js.Live) > 0 || len(js.Paths) > 1 {
			t.Fatalf("%s: leftover journals %q (live %q): %v; want at most the daemon's one", what, js.Paths, js.Live, errs)
		}
		for _, f := range files {
			checkCrashFile(t, v, js, f, what)
		}
		if err := js.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills", kills)
	want := map[string][]byte{}
	for _, f := range files {
		want[f.name] = f.cur
	}
	fsckVault(t, v, want)
}

// crashWorkload changes files through the mount until an operation
// fails because the daemon is gone, and returns how many it completed.
func crashWorkload(t *testing.T, r *rand.Rand, mnt string, files []*crashFile, killed chan struct{}) int {
	t.Helper()
	handles := make([]*os.File, len(files))
	defer func() {
		for _, h := range handles {
			if h != nil {
				h.Close()
			}
		}
	}()
	for ops := 0; ; ops++ {
		i := r.IntN(len(files))
		f := files[i]
		var err error
		if handles[i] == nil {
			handles[i], err = os.OpenFile(filepath.Join(mnt, f.name), os.O_RDWR|os.O_CREATE, 0o600)
		}
		if err == nil {
			err = crashStep(r, handles[i], f)
		}
		if err != nil {
			select {
			case <-killed:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: %v before the daemon was killed", f.name, err)
			}
			if !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) && !errors.Is(err, syscall.EIO) {
				t.Fatalf("%s: %v after the kill, want ENOTCONN", f.name, err)
			}
			return ops
		}
		f.next = nil
	}
}

// crashStep runs one random operation on f through h, recording in
// f.next what the file may hold if it is interrupted.
func crashStep(r *rand.Rand, h *os.File, f *crashFile) error {
	const page = 4096
	size := int64(len(f.cur))
	switch op := r.IntN(8); {
	case op < 4: // append (a write may be split at page boundaries)
		p := randBytesFS(r, 1+r.IntN(256<<10))
		return crashWrite(h, f, p, size)
	case op < 6: // overwrite whole chunks inside the file
		if size < page {
			return h.Sync()
		}
		n := min(1+r.Int64N(64), size/page)
		off := r.Int64N(size/page-n+1) * page
		p := randBytesFS(r, int(n*page))
		return crashWrite(h, f, p, off)
	case op < 7:
		newSize := r.Int64N(size + 64<<10)
		if size > 1<<20 {
			newSize = r.Int64N(size/2 + 1)
		}
		cur := f.cur
		f.next = func() [][]byte { return [][]byte{resizeFS(cur, newSize)} }
		if err := h.Truncate(newSize); err != nil {
			return err
		}
		f.cur = resizeFS(cur, newSize)
		return nil
	default:
		return h.Sync()
	}
}

// crashWrite writes p at off and records the states an interrupted
// write may leave: the kernel sends a write as one request per run of
// pages, split after a partial page it does not have cached, so any
// prefix ending at a page boundary may be written.
func crashWrite(h *os.File, f *crashFile, p []byte, off int64) error {
	const page = 4096
	cur := f.cur
	apply := func(n int64) []byte {
		w := resizeFS(bytes.Clone(cur), max(int64(len(cur)), off+n))
		copy(w[off:], p[:n])
		return w
	}
	f.next = func() [][]byte {
		next := [][]byte{apply(int64(len(p)))}
		for b := (off/page + 1) * page; b < off+int64(len(p)); b += page {
			next = append(next, apply(b-off))
		}
		return next
	}
	if _, err := h.WriteAt(p, off); err != nil {
		return err
	}
	f.cur = apply(int64(len(p)))
	return nil
}

func randBytesFS(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func resizeFS(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

// checkCrashFile repairs f as fsck --repair would (journal, then torn
// tail) and checks it as TestCrashKeepsData says; f.cur becomes what
// the file holds.
func checkCrashFile(t *testing.T, v *vault.Vault, js *vault.Journals, f *crashFile, what string) {
	t.Helper()
	bp, err := v.ResolvePath(f.name)
	if errors.Is(err, os.ErrNotExist) && len(f.cur) == 0 {
		return // never created
	}
	if err != nil {
		t.Fatalf("%s: %s: %v", what, f.name, err)
	}
	put := restoreTorn(t, v, js, bp, f.name)
	raw, err := os.ReadFile(bp)
	if err != nil {
		t.Fatal(err)
	}
	cands := [][]byte{f.cur}
	if f.next != nil {
		cands = append(cands, f.next()...)
	}
	got, rerr := readContent(v, raw)
	if rerr != nil {
		rep := repairTail(t, v, bp, f.name)
		fixed, err := os.ReadFile(bp)
		if err != nil {
			t.Fatal(err)
		}
		if got, err = readContent(v, fixed); err != nil {
			t.Fatalf("%s: %s is damaged (%v; chunks put back from the journal: %v); after fsck --repair (%+v): %v", what, f.name, rerr, put, rep, err)
		}
		t.Logf("%s: %s: fsck --repair put back chunks %v and cut the torn tail from %d to %d backing bytes", what, f.name, put, rep.OldBacking, rep.NewBacking)
	} else if len(put) > 0 {
		t.Logf("%s: %s: fsck --repair put back torn chunks %v from the journal", what, f.name, put)
	}
	for _, c := range cands {
		if bytes.Equal(got, c) {
			f.cur = c
			return
		}
	}
	t.Fatalf("%s: %s reads as %d bytes after fsck --repair, none of the %d contents it may have (acknowledged: %d bytes; chunks put back: %v)", what, f.name, len(got), len(cands), len(f.cur), put)
}

// restoreTorn does to the backing file bp what fsck --repair does first
// to a damaged file: put torn lines back from the leftover journals.
func restoreTorn(t *testing.T, v *vault.Vault, js *vault.Journals, bp, name string) []int64 {
	t.Helper()
	bf, err := os.OpenFile(bp, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	c := v.OpenContent(bf, name)
	defer c.Close()
	put, err := c.RestoreTorn(js, true)
	if err != nil {
		t.Fatalf("fsck --repair of %s: %v", name, err)
	}
	return put
}

// repairTail does to the backing file bp what fsck --repair does to a
// file that Check rejects.
func repairTail(t *testing.T, v *vault.Vault, bp, name string) vault.TailRepair {
	t.Helper()
	bf, err := os.OpenFile(bp, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	c := v.OpenContent(bf, name)
	defer c.Close()
	rep, err := c.RepairTail()
	if err != nil {
		t.Fatalf("fsck --repair of %s: %v", name, err)
	}
	return rep
}

// readContent decrypts a whole backing file held in memory, checking
// every chunk.
func readContent(v *vault.Vault, raw []byte) ([]byte, error) {
	c := v.OpenContent(&memFile{b: raw}, "crash")
	if err := c.Check(nil); err != nil {
		return nil, err
	}
	size, err := c.Size()
	if err != nil {
		return nil, err
	}
	got := make([]byte, size)
	if _, err := c.ReadAt(got, 0); err != nil && size > 0 {
		return nil, err
	}
	return got, nil
}

// memFile is a read-only vault.Backing over bytes.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.b).ReadAt(p, off)
}
func (m *memFile) WriteAt(p []byte, off int64) (int, error) { return 0, syscall.EROFS }
func (m *memFile) Truncate(int64) error                     { return syscall.EROFS }
func (m *memFile) Stat() (os.FileInfo, error)               { return memFileInfo(len(m.b)), nil }

type memFileInfo int64

func (n memFileInfo) Name() string       { return "crash" }
func (n memFileInfo) Size() int64        { return int64(n) }
func (n memFileInfo) Mode() os.FileMode  { return 0o600 }
func (n memFileInfo) ModTime() time.Time { return time.Time{} }
func (n memFileInfo) IsDir() bool        { return false }
func (n memFileInfo) Sys() any           { return nil }

var _ vault.Backing = (*memFile)(nil)
