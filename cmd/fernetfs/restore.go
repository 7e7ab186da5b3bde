//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// specialBits are the mode bits that grant privilege when set on a file.
const specialBits = unix.S_ISUID | unix.S_ISGID

// outDir is a directory of OUTDIR being filled: its descriptor, and the
// backing stat whose mode, times and owner it gets once all its entries
// are written (writing them would change the mtime, and a read-only mode
// would forbid them). info is nil for an OUTDIR that existed already,
// which keeps its own attributes.
type outDir struct {
	fd   int
	name string // display name
	info os.FileInfo
}

// hardLink is the first restored copy of a backing inode with several
// links, kept open until its other links are made from it.
type hardLink struct {
	f    *os.File
	left uint64 // links still to come
}

// restorer holds the state of one decrypt run. It walks the vault with
// vault.Walk and mirrors each entry below OUTDIR through directory
// descriptors: every entry is created relative to its parent's
// descriptor with O_EXCL/O_NOFOLLOW semantics and its attributes are set
// through its own descriptor, so a path of any length works and nothing
// outside OUTDIR is ever touched.
type restorer struct {
	e    *env
	v    *vault.Vault
	out  string
	opts decryptOptions
	root bool // euid 0: restore ownership and device nodes
	buf  []byte
	prog *progress
	// dirs is the chain of open directories from OUTDIR (dirs[0]) down to
	// the one the walk is in.
	dirs      []outDir
	links     map[uint64]*hardLink // backing inode -> first restored copy
	restored  int64
	failed    int64
	corrupt   int64
	badXattrs int64
	// What the defaults left out, for the summary line.
	devicesSkipped, specialCleared int64
}

func newRestorer(e *env, v *vault.Vault, out string, outFd int, opts decryptOptions) *restorer {
	r := &restorer{
		e:     e,
		v:     v,
		out:   out,
		opts:  opts,
		root:  os.Geteuid() == 0,
		buf:   make([]byte, copyBufSize),
		prog:  newProgress(e, "decrypt: restored"),
		links: make(map[uint64]*hardLink),
	}
	r.dirs = []outDir{{fd: outFd, name: strconv.Quote(out)}}
	return r
}

// run restores the whole vault; OUTDIR gets the vault root's attributes
// if decrypt created it. Vault problems are reported and counted; the
// returned error is a failure to write OUTDIR, which ends the run.
func (r *restorer) run(created bool) error {
	err := r.v.Walk(func(w vault.WalkEntry) error {
		if w.Depth == 0 {
			if w.Err == nil && created {
				r.dirs[0].info = w.Info
				if r.opts.xattrs {
					r.copyXattrs(displayPath(""), w.Dir.Fd(), r.dirs[0].fd)
				}
			}
			return nil
		}
		if err := r.leave(w.Depth); err != nil {
			return err
		}
		return r.entry(w)
	})
	r.prog.clear()
	if lerr := r.leave(0); err == nil {
		err = lerr
	}
	for _, l := range r.links {
		l.f.Close()
	}
	return err
}

// leave finishes every open directory deeper than depth: the walk has
// moved on, so all their entries are written.
func (r *restorer) leave(depth int) error {
	var err error
	for len(r.dirs) > depth {
		d := r.dirs[len(r.dirs)-1]
		r.dirs = r.dirs[:len(r.dirs)-1]
		if d.info != nil && err == nil {
			if err = r.setAttrs(d.fd, d.info, true); err != nil {
				err = fmt.Errorf("%s: %w", d.name, err)
			}
		}
		unix.Close(d.fd)
	}
	return err
}

// entry restores one walked entry below the root. Problems with the
// vault are reported and counted and the walk goes on; a failure to
// write OUTDIR (full disk, permissions) ends the run, since every later
// entry would fail too.
func (r *restorer) entry(w vault.WalkEntry) error {
	name := displayPath(w.Path)
	if w.Err != nil {
		// Walk does not descend into a directory it could not open; fs.SkipDir
		// here would skip the rest of the parent instead.
		r.report(name, w.Err)
		return nil
	}
	parent := r.dirs[len(r.dirs)-1].fd
	base := w.Info.Name()
	mode := w.Info.Mode()
	st := w.Info.Sys().(*syscall.Stat_t)
	var err error
	switch {
	case mode.IsDir():
		return r.dir(w, name, parent, base)
	case mode.IsRegular():
		return r.file(w, name, parent, base, st)
	case mode&fs.ModeSymlink != 0:
		target, rerr := w.Parent.ReadSymlink(w.Backing)
		if rerr != nil {
			r.report(name, rerr)
			return nil
		}
		if err = unix.Symlinkat(target, parent, base); err == nil {
			err = r.setAttrsAt(parent, base, w.Info)
		}
	case mode&fs.ModeNamedPipe != 0:
		if err = unix.Mknodat(parent, base, unix.S_IFIFO|0o600, 0); err == nil {
			err = r.setAttrsAt(parent, base, w.Info)
		}
	case mode&fs.ModeDevice != 0 && !r.opts.devices:
		r.devicesSkipped++
		return nil
	case mode&fs.ModeDevice != 0 && r.root:
		if err = unix.Mknodat(parent, base, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err == nil {
			err = r.setAttrsAt(parent, base, w.Info)
		}
	default:
		r.prog.clear()
		fmt.Fprintf(r.e.stderr, "fernetfs: decrypt: %s: skipped (%s)\n", name, fileKind(mode))
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.restored++
	return nil
}

// dir creates a directory and makes it the current one; its attributes
// are set when the walk leaves it.
func (r *restorer) dir(w vault.WalkEntry, name string, parent int, base string) error {
	if err := unix.Mkdirat(parent, base, 0o700); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fd, err := openatNoFollow(parent, base, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.dirs = append(r.dirs, outDir{fd: fd, name: name, info: w.Info})
	if r.opts.xattrs {
		r.copyXattrs(name, w.Dir.Fd(), fd)
	}
	r.restored++
	return nil
}

// file restores one regular file, or hard-links it to an earlier copy of
// the same backing inode. A vault problem is reported and the file left
// out; a returned error is a failure to write OUTDIR.
func (r *restorer) file(w vault.WalkEntry, name string, parent int, base string, st *syscall.Stat_t) error {
	if l := r.links[st.Ino]; l != nil {
		if err := linkFd(int(l.f.Fd()), parent, base); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if l.left--; l.left == 0 {
			l.f.Close()
			delete(r.links, st.Ino)
		}
		r.restored++
		return nil
	}
	c, in, err := w.Parent.OpenContent(w.Backing, name)
	if err != nil {
		r.report(name, err)
		return nil
	}
	defer in.Close()
	defer c.Close()
	fd, err := openatNoFollow(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	outF := os.NewFile(uintptr(fd), base)
	werr, rerr := r.copySparse(outF, c)
	if werr == nil && rerr == nil && r.opts.xattrs {
		r.copyXattrs(name, int(in.Fd()), fd)
	}
	if werr == nil && rerr == nil {
		werr = r.setAttrs(fd, w.Info, false)
	}
	keep := werr == nil && rerr == nil && st.Nlink > 1
	if !keep {
		if cerr := outF.Close(); werr == nil {
			werr = cerr
		}
	}
	if werr != nil || rerr != nil {
		// Never leave a partial file that looks restored.
		unix.Unlinkat(parent, base, 0)
		if werr != nil {
			return fmt.Errorf("%s: %w", name, werr)
		}
		r.report(name, rerr)
		return nil
	}
	if keep {
		r.links[st.Ino] = &hardLink{f: outF, left: uint64(st.Nlink) - 1}
	}
	r.restored++
	r.prog.add(1, 0)
	return nil
}

// linkFd makes parent/base a hard link to the file open as fd: the very
// inode restored first, wherever its directory is now. linkat through
// /proc/self/fd works for any user; without /proc, AT_EMPTY_PATH does
// for root.
func linkFd(fd, parent int, base string) error {
	err := retry(func() error {
		return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), parent, base, unix.AT_SYMLINK_FOLLOW)
	})
	if err == unix.ENOENT {
		err = retry(func() error { return unix.Linkat(fd, "", parent, base, unix.AT_EMPTY_PATH) })
	}
	return err
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
		if data < off || hole <= data {
			// vault promises progress; never loop if it did not.
			return nil, fmt.Errorf("%w: %s: seeking from %d gave data at %d, hole at %d", vault.ErrCorrupt, c.Name(), off, data, hole)
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

// copyXattrs restores the user.* attributes of the backing file or
// directory open as from onto the restored one open as to. One that
// does not decrypt is reported and left out; the entry is kept.
func (r *restorer) copyXattrs(name string, from, to int) {
	xs, err := r.v.ReadXattrs(from)
	if err != nil {
		r.reportXattr(name, err)
		return
	}
	for _, x := range xs {
		if x.Err == nil {
			x.Err = retry(func() error { return unix.Fsetxattr(to, x.Name, x.Value, 0) })
			if errors.Is(x.Err, unix.EOPNOTSUPP) {
				x.Err = fmt.Errorf("%q: %w (OUTDIR's filesystem has no user xattrs; --no-xattrs leaves them out)", x.Name, x.Err)
			} else if x.Err != nil {
				x.Err = fmt.Errorf("%q: %w", x.Name, x.Err)
			}
		}
		if x.Err != nil {
			r.reportXattr(name, x.Err)
		}
	}
}

// mode is the mode a restored entry gets: the stored permission bits,
// without setuid/setgid on a non-directory unless --same-permissions
// asked for them.
func (r *restorer) mode(st *syscall.Stat_t, isDir bool) uint32 {
	m := st.Mode & 0o7777
	if !isDir && !r.opts.samePerms && m&specialBits != 0 {
		m &^= specialBits
		r.specialCleared++
	}
	return m
}

// setAttrs sets mode, times and (as root) owner of a restored file or
// directory through its descriptor, owner last. chown clears setuid and
// setgid, so a mode that keeps them is applied once more after it; until
// then the file never has them while owned by the restoring user.
func (r *restorer) setAttrs(fd int, fi os.FileInfo, isDir bool) error {
	st := fi.Sys().(*syscall.Stat_t)
	mode := r.mode(st, isDir)
	if err := retry(func() error { return unix.Fchmod(fd, mode&^specialBits) }); err != nil {
		return err
	}
	if err := futimens(fd, times(st)); err != nil {
		return err
	}
	if r.root {
		if err := retry(func() error { return unix.Fchown(fd, int(st.Uid), int(st.Gid)) }); err != nil {
			return err
		}
	}
	if mode&specialBits != 0 {
		return retry(func() error { return unix.Fchmod(fd, mode) })
	}
	return nil
}

// setAttrsAt is setAttrs for an entry that cannot be opened for it (a
// symlink, a fifo, a device node): every call is relative to the parent
// descriptor and does not follow a symlink.
func (r *restorer) setAttrsAt(parent int, base string, fi os.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	isLink := fi.Mode()&fs.ModeSymlink != 0
	mode := uint32(0)
	if !isLink {
		mode = r.mode(st, false)
		if err := chmodNoFollow(parent, base, mode&^specialBits); err != nil {
			return err
		}
	}
	if err := utimesNoFollow(parent, base, times(st)); err != nil {
		return err
	}
	if r.root {
		if err := retry(func() error {
			return unix.Fchownat(parent, base, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		}); err != nil {
			return err
		}
	}
	if mode&specialBits != 0 {
		return chmodNoFollow(parent, base, mode)
	}
	return nil
}

// times is the access and modification time of a backing entry.
func times(st *syscall.Stat_t) *[2]unix.Timespec {
	return &[2]unix.Timespec{
		{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
	}
}

// report prints a vault problem and counts it.
func (r *restorer) report(name string, err error) {
	r.failed++
	if errors.Is(err, vault.ErrCorrupt) {
		r.corrupt++
	}
	r.print(name, err)
}

// reportXattr prints a problem with one extended attribute, whose entry
// was restored without it.
func (r *restorer) reportXattr(name string, err error) {
	r.badXattrs++
	if errors.Is(err, vault.ErrCorrupt) {
		r.corrupt++
	}
	r.print(name, fmt.Errorf("%s: xattr: %w", name, err))
}

func (r *restorer) print(name string, err error) {
	r.prog.clear()
	msg := err.Error()
	if !strings.Contains(msg, name) {
		msg = name + ": " + msg
	}
	fmt.Fprintf(r.e.stderr, "fernetfs: decrypt: %s\n", escapeControl(strings.Join(strings.Fields(msg), " ")))
}

// summary prints the one line saying what the safe defaults left out.
func (r *restorer) summary() {
	var parts []string
	if n := r.devicesSkipped; n > 0 {
		parts = append(parts, fmt.Sprintf("skipped %d device %s (--devices restores them)",
			n, plural(n, "node", "nodes")))
	}
	if n := r.specialCleared; n > 0 {
		parts = append(parts, fmt.Sprintf("cleared setuid/setgid bits of %d %s (--same-permissions keeps them)",
			n, plural(n, "file", "files")))
	}
	if len(parts) > 0 {
		fmt.Fprintf(r.e.stderr, "fernetfs: decrypt: %s\n", strings.Join(parts, "; "))
	}
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
