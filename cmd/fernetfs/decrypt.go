package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

func decryptCommand() *command {
	return &command{
		name:     "decrypt",
		synopsis: "BACKING OUTDIR",
		summary:  "restore a vault's whole plaintext tree into OUTDIR, without mounting",
		help: `
Decrypt every file, directory and symlink of the vault into OUTDIR (created
if missing; an existing one must be empty), keeping modes, modification
times, hard links, fifos and sparse regions, and ownership when run as root.
This is the restore path for a backed-up vault on a machine without FUSE.
A file that fails authentication is reported and left out, the rest is
restored, and the exit status is 5.`,
		run: runDecrypt,
	}
}

// dirTimes is a restored directory whose mode and times are applied only
// after its contents are written (writing them would change the mtime,
// and a read-only mode would forbid them).
type dirTimes struct {
	path  string
	mode  fs.FileMode
	atime time.Time
	mtime time.Time
}

// restorer holds the state of one decrypt run.
type restorer struct {
	e        *env
	v        *vault.Vault
	out      string
	root     bool // euid 0: restore ownership and device nodes
	buf      []byte
	prog     *progress
	dirs     []dirTimes
	links    map[uint64]string // backing inode -> first restored path, for hard links
	restored int64
	failed   int64
	corrupt  int64
}

func runDecrypt(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	pos, err := f.parseN(e, args, "BACKING", "OUTDIR")
	if err != nil {
		return err
	}
	if err := cred.check(c.name); err != nil {
		return err
	}
	backing, out := pos[0], pos[1]
	createdOut, err := prepareOutDir(backing, out)
	if err != nil {
		return err
	}
	v, err := unlock(e, &cred, backing)
	if err != nil {
		if createdOut {
			os.Remove(out)
		}
		return err
	}
	r := &restorer{
		e:     e,
		v:     v,
		out:   out,
		root:  os.Geteuid() == 0,
		buf:   make([]byte, copyBufSize),
		prog:  newProgress(e, "decrypt: restored"),
		links: make(map[uint64]string),
	}
	err = v.Walk(func(w vault.WalkEntry) error {
		if w.Path == "" && w.Err == nil {
			if createdOut {
				r.dirs = append(r.dirs, r.dirEntry(out, w.Info))
			}
			return nil
		}
		return r.entry(w)
	})
	r.prog.clear()
	// Children come after their parent in the walk, so applying in reverse
	// sets every directory after everything inside it.
	for i := len(r.dirs) - 1; i >= 0 && err == nil; i-- {
		d := r.dirs[i]
		if err = os.Chmod(d.path, d.mode); err == nil {
			err = os.Chtimes(d.path, d.atime, d.mtime)
		}
	}
	if err != nil {
		return err
	}
	if r.failed > 0 {
		msg := fmt.Sprintf("%d of %d entries of vault %s could not be restored into %s",
			r.failed, r.failed+r.restored, v.Dir(), out)
		if r.corrupt > 0 {
			return fmt.Errorf("%w: %s", vault.ErrCorrupt, msg)
		}
		return errors.New(msg)
	}
	return nil
}

// prepareOutDir checks OUTDIR before the password is asked: it must be
// empty (or missing, then it is created) and must not lie inside the
// vault, where the restored plaintext would mix with the ciphertext.
func prepareOutDir(backing, out string) (created bool, err error) {
	absB, err1 := filepath.Abs(backing)
	absO, err2 := filepath.Abs(out)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(absB, absO); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			return false, fmt.Errorf("output directory %s is inside the vault %s", out, backing)
		}
	}
	if _, err := vault.ReadHeader(backing); err != nil {
		return false, err
	}
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(out, 0o700); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("output directory %s is not empty", out)
	}
	return false, nil
}

// entry restores one walked entry. Problems with the vault are reported
// and counted and the walk goes on; a failure to write OUTDIR (full disk,
// permissions) ends the run, since every later entry would fail too.
func (r *restorer) entry(w vault.WalkEntry) error {
	name := displayPath(w.Path)
	if w.Err != nil {
		// Walk does not descend into a directory it could not open; fs.SkipDir
		// here would skip the rest of the parent instead.
		r.report(name, w.Err)
		return nil
	}
	dst := filepath.Join(r.out, filepath.FromSlash(w.Path))
	mode := w.Info.Mode()
	st := w.Info.Sys().(*syscall.Stat_t)
	var err error
	switch {
	case mode.IsDir():
		if err = os.Mkdir(dst, 0o700); err == nil {
			r.dirs = append(r.dirs, r.dirEntry(dst, w.Info))
		}
	case mode.IsRegular():
		var created bool
		created, err = r.file(w, name, dst, st)
		if !created {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		tok, rerr := os.Readlink(w.BackingPath)
		if rerr != nil {
			r.report(name, rerr)
			return nil
		}
		target, derr := r.v.DecryptSymlink(tok)
		if derr != nil {
			r.report(name, derr)
			return nil
		}
		err = os.Symlink(target, dst)
	case mode&fs.ModeNamedPipe != 0:
		err = unix.Mkfifo(dst, 0o600)
	case mode&fs.ModeDevice != 0 && r.root:
		err = unix.Mknod(dst, st.Mode&unix.S_IFMT|0o600, int(st.Rdev))
	default:
		r.prog.clear()
		fmt.Fprintf(r.e.stderr, "fernetfs: decrypt: %s: skipped (%s)\n", name, fileKind(mode))
		return nil
	}
	if err == nil && !mode.IsDir() {
		err = r.attrs(dst, w.Info)
	}
	if err != nil {
		return err
	}
	r.restored++
	return nil
}

// file restores one regular file, or hard-links it to an earlier copy of
// the same backing inode. created is true when dst is a new file that
// still needs its attributes; otherwise it was linked, or reported as a
// vault problem and skipped, and a non-nil err (writing OUTDIR) ends the
// walk.
func (r *restorer) file(w vault.WalkEntry, name, dst string, st *syscall.Stat_t) (created bool, err error) {
	if st.Nlink > 1 {
		if first, ok := r.links[st.Ino]; ok {
			if err := os.Link(first, dst); err != nil {
				return false, err
			}
			r.restored++
			return false, nil
		}
	}
	c, in, err := openContent(r.v, w.BackingPath, name)
	if err != nil {
		r.report(name, err)
		return false, nil
	}
	defer in.Close()
	defer c.Close()
	outF, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return false, err
	}
	werr, rerr := r.copySparse(outF, c)
	if cerr := outF.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil || rerr != nil {
		// Never leave a partial file that looks restored.
		os.Remove(dst)
		if werr != nil {
			return false, werr
		}
		r.report(name, rerr)
		return false, nil
	}
	if st.Nlink > 1 {
		r.links[st.Ino] = dst
	}
	r.prog.add(1, 0)
	return true, nil
}

// copySparse copies c's plaintext into out, skipping the holes the vault
// reports so a sparse file stays sparse. werr is a failure writing out,
// rerr one reading the vault.
func (r *restorer) copySparse(out *os.File, c *vault.Content) (werr, rerr error) {
	size, err := c.Size()
	if err != nil {
		return nil, err
	}
	for off := int64(0); off < size; {
		data, err := c.SeekData(off)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return nil, err
		}
		hole, err := c.SeekHole(data)
		if err != nil {
			return nil, err
		}
		for off = data; off < hole; {
			n, err := c.ReadAt(r.buf[:min(int64(len(r.buf)), hole-off)], off)
			if n > 0 {
				if _, werr := out.WriteAt(r.buf[:n], off); werr != nil {
					return werr, nil
				}
				off += int64(n)
				r.prog.add(0, int64(n))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out.Truncate(size), nil
}

// attrs applies mode, ownership (as root) and times to a restored
// non-directory.
func (r *restorer) attrs(dst string, fi fs.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	if r.root {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := os.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// dirEntry records a directory's mode and times (and sets its owner now,
// which does not disturb its contents).
func (r *restorer) dirEntry(dst string, fi fs.FileInfo) dirTimes {
	st := fi.Sys().(*syscall.Stat_t)
	if r.root {
		os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
	return dirTimes{
		path:  dst,
		mode:  fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		atime: time.Unix(st.Atim.Unix()),
		mtime: time.Unix(st.Mtim.Unix()),
	}
}

// report prints a vault problem and counts it.
func (r *restorer) report(name string, err error) {
	r.failed++
	if errors.Is(err, vault.ErrCorrupt) {
		r.corrupt++
	}
	r.prog.clear()
	msg := err.Error()
	if !strings.Contains(msg, name) {
		msg = name + ": " + msg
	}
	fmt.Fprintf(r.e.stderr, "fernetfs: decrypt: %s\n", strings.Join(strings.Fields(msg), " "))
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device; only root can restore it"
	case m&fs.ModeDevice != 0:
		return "block device; only root can restore it"
	}
	return "unsupported file type"
}
