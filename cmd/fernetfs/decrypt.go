//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

func decryptCommand() *command {
	return &command{
		name:     "decrypt",
		synopsis: "[--devices] [--same-permissions] [--no-xattrs] BACKING OUTDIR",
		summary:  "restore a vault's whole plaintext tree into OUTDIR, without mounting",
		help: `
Decrypt every file, directory and symlink of the vault into OUTDIR (created
if missing; an existing one must be empty), keeping modes, modification
times, hard links, fifos, sparse regions, user.* extended attributes, and
ownership when run as root. This is the restore path for a backed-up vault
on a machine without FUSE. A file that fails authentication is reported and
left out, the rest is restored, and the exit status is 5.

OUTDIR must belong to you and be writable by nobody else (no group or other
write bit): decrypt works below it through directory descriptors, and
refuses a directory where another user could swap entries while it runs.

A vault's file types and modes are not authenticated, so a tampered backup
could carry a device node or a setuid program. By default decrypt skips
device nodes and clears the setuid and setgid bits of files (directories
keep theirs), saying how many in one line; --devices and --same-permissions
restore them as stored, as with rsync --devices and tar --same-permissions.`,
		run: runDecrypt,
	}
}

// decryptOptions are decrypt's choices beyond BACKING and OUTDIR.
type decryptOptions struct {
	devices   bool // restore device nodes (root only)
	samePerms bool // keep setuid/setgid bits of files
	xattrs    bool // restore user.* extended attributes
}

func runDecrypt(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	var opts decryptOptions
	f.BoolVar(&opts.devices, "devices", false, "restore character and block devices (as root)")
	f.BoolVar(&opts.samePerms, "same-permissions", false, "keep the setuid and setgid bits of files")
	noXattrs := f.Bool("no-xattrs", false, "do not restore extended attributes")
	pos, err := f.parseN(e, args, "BACKING", "OUTDIR")
	if err != nil {
		return err
	}
	opts.xattrs = !*noXattrs
	if err := cred.check(c.name); err != nil {
		return err
	}
	backing, out := pos[0], pos[1]
	outFd, createdOut, err := openOutDir(backing, out)
	if err != nil {
		return err
	}
	v, err := unlock(e, &cred, backing)
	if err != nil {
		unix.Close(outFd)
		if createdOut {
			os.Remove(out)
		}
		return err
	}
	r := newRestorer(e, v, out, outFd, opts)
	if err := r.run(createdOut); err != nil {
		return err
	}
	r.summary()
	if r.failed > 0 || r.badXattrs > 0 {
		msg := fmt.Sprintf("%d of %d entries of vault %s could not be restored into %s",
			r.failed, r.failed+r.restored, v.Dir(), out)
		if r.badXattrs > 0 {
			msg += fmt.Sprintf(", %d extended %s", r.badXattrs, plural(r.badXattrs, "attribute", "attributes"))
		}
		if r.corrupt > 0 {
			return journalHint(v, fmt.Errorf("%w: %s", vault.ErrCorrupt, msg))
		}
		return errors.New(msg)
	}
	return nil
}

// openOutDir checks and opens OUTDIR before the password is asked: it
// must be empty (or missing, then it is created), must not lie inside
// the vault, where the restored plaintext would mix with the ciphertext,
// and must be writable by the invoking user alone, since decrypt (often
// run as root) would otherwise restore into a tree that someone else can
// rearrange under it. Everything below OUTDIR is then reached from the
// returned descriptor.
func openOutDir(backing, out string) (fd int, created bool, err error) {
	absB, err1 := filepath.Abs(backing)
	absO, err2 := filepath.Abs(out)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(absB, absO); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			return -1, false, fmt.Errorf("output directory %s is inside the vault %s", out, backing)
		}
	}
	if _, err := vault.ReadHeader(backing); err != nil {
		return -1, false, err
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if _, err := os.Lstat(out); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(out, 0o700); err != nil {
			return -1, false, err
		}
		// The directory just made, not whatever replaced it meanwhile.
		created, flags = true, flags|unix.O_NOFOLLOW
	}
	err = retry(func() (err error) {
		fd, err = unix.Open(out, flags, 0)
		return err
	})
	if err != nil {
		err = &os.PathError{Op: "open", Path: out, Err: err}
	} else {
		err = checkOutDir(fd, out)
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		if created {
			os.Remove(out)
		}
		return -1, false, err
	}
	return fd, created, nil
}

// checkOutDir refuses an OUTDIR that is not an empty directory owned by
// the invoking user and writable by no one else. Group and other write
// bits cover ACLs too: the group bits of a directory with an ACL are its
// mask, which bounds every named user and group entry.
func checkOutDir(fd int, out string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: out, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &os.PathError{Op: "open", Path: out, Err: unix.ENOTDIR}
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("output directory %s belongs to uid %d, not to you (uid %d): "+
			"decrypt restores only into a directory of your own", out, st.Uid, uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("output directory %s is writable by others (mode %04o): "+
			"decrypt restores only into a directory no one else can write to", out, st.Mode&0o7777)
	}
	dfd, err := openatNoFollow(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: out, Err: err}
	}
	d := os.NewFile(uintptr(dfd), out)
	defer d.Close()
	names, err := d.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("output directory %s is not empty", out)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
