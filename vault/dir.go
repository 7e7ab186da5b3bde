package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is an open backing directory with its IV. Every access below it is
// relative to its descriptor (openat, mkdirat, ...), so a directory that
// is renamed or swapped for a symlink while in use cannot redirect the
// vault outside the tree. Its methods may be called concurrently; Close
// must come after all of them.
type Dir struct {
	v  *Vault
	fd int
	iv []byte
	// parent and name give the backing path, for error messages only:
	// name is the entry in parent, or the backing root's path when parent
	// is nil. A mount keeps a Dir per directory the kernel knows, and a
	// joined path string cost each of them the whole path again (about
	// 700 bytes a directory in Go's source tree); the entry name is the
	// string the caller gets back as the backing name.
	parent *Dir
	name   string
	// alt holds the IVs of sync tools' conflict copies of the directory
	// IV (see dir_conflict.go).
	alt altIVs
	// stamp is the directory as it was when iv was read, when the
	// vault caches IVs (see dirIVCache).
	stamp *dirIVStamp
}

// DirEntry is one plaintext entry of a directory listing. Ino and Type
// come from the directory itself, so a listing costs no stat per entry.
type DirEntry struct {
	// Name is the plaintext name ("" when Err is set).
	Name string
	// Backing is the entry's name in the backing directory.
	Backing string
	// Ino is the backing inode number.
	Ino uint64
	// Type is the S_IFMT bits of the entry's mode, or 0 when the backing
	// filesystem does not report types in its listings.
	Type uint32
	// Err is set (wrapping ErrCorrupt) when the backing name does not
	// decode; one bad entry must not hide the rest of the directory.
	Err error
}

const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// OpenRoot opens the vault's backing root, the one directory opened by
// path; everything else is reached from it.
func (v *Vault) OpenRoot() (*Dir, error) {
	fd, err := unix.Open(v.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: v.dir, Err: err}
	}
	return v.newDir(fd, nil, v.dir)
}

// newDir wraps an open directory descriptor, reading its IV; it takes
// ownership of fd and closes it on error.
func (v *Vault) newDir(fd int, parent *Dir, name string) (*Dir, error) {
	d := &Dir{v: v, fd: fd, parent: parent, name: name}
	if !v.PlaintextNames() {
		c := v.ivCache.Load()
		st, stamped := c.stamp(fd)
		if stamped {
			if iv, ok := c.lookup(st); ok {
				d.iv, d.stamp = iv, st
				return d, nil
			}
		}
		iv, err := readDirIVAt(fd, d.path)
		if err != nil {
			iv, err = v.awaitDirIV(fd, d.path, err)
		}
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		d.iv = iv
		if stamped {
			d.stamp = st
		}
	}
	return d, nil
}

// Fd is the directory's descriptor, for *at calls by the FUSE layer. It
// stays owned by the Dir.
func (d *Dir) Fd() int { return d.fd }

// IV is the directory IV (nil in plaintext-name vaults); callers must not
// modify it.
func (d *Dir) IV() []byte { return d.iv }

// Close releases the descriptor; further calls are no-ops. A mount
// that caches directory IVs remembers this one's (see dirIVCache).
func (d *Dir) Close() error {
	if d.fd < 0 {
		return nil
	}
	if d.stamp != nil {
		d.v.ivCache.Load().remember(d.fd, d.stamp, d.iv)
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// path is the directory's backing path.
func (d *Dir) path() string {
	if d.parent == nil {
		return d.name
	}
	return filepath.Join(d.parent.path(), d.name)
}

func (d *Dir) pathErr(op, name string, err error) error {
	// Quoted: in plaintext-name vaults the path holds names from the vault.
	return &os.PathError{Op: op, Path: strconv.Quote(filepath.Join(d.path(), name)), Err: err}
}

// BackingName translates the plaintext name of an entry in this
// directory: enough for lookup, stat, open, unlink. Usually it touches no
// disk; a name shown for a sync tool's conflict copy, or one sealed
// under a conflict copy of the directory IV, is found by a stat of its
// few possible backing names (see resolveExisting). A name that exists
// nowhere gives the backing name a new entry would get.
func (d *Dir) BackingName(plain string) (string, error) {
	b, _, err := d.v.EncryptName(d.iv, plain)
	if err != nil || d.v.PlaintextNames() {
		return b, err
	}
	return d.resolveExisting(plain, b), nil
}

// PrepareName translates a name about to be created (or renamed/linked
// to), writing the long-name sidecar first when there is one, so the new
// entry is never visible without it. Safe to repeat: an existing sidecar
// with the right token is kept, a stale one replaced.
func (d *Dir) PrepareName(plain string) (string, error) {
	b, _, err := d.prepare(plain)
	return b, err
}

// prepare is PrepareName, also reporting whether it created the sidecar,
// so a failed create can remove it without touching an existing entry's.
func (d *Dir) prepare(plain string) (backing string, created bool, err error) {
	backing, long, err := d.v.EncryptName(d.iv, plain)
	if err == nil && !d.v.PlaintextNames() {
		// A rename onto a name shown for a conflict copy (or sealed
		// under another IV) replaces that entry, as the name says.
		if r := d.resolveExisting(plain, backing); r != backing {
			return r, false, nil
		}
	}
	if err != nil || long == "" {
		return backing, false, err
	}
	sc := LongNameSidecar(backing)
	old, err := readSmallFileAt(d.fd, sc, maxSidecarLen)
	if err == nil && string(old) == long {
		return backing, false, nil
	}
	if errors.Is(err, unix.ENOENT) {
		err = writeNewFileAt(d.fd, sc, []byte(long), 0o400)
		if err == nil {
			return backing, true, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", false, d.pathErr("create", sc, err)
		}
	}
	// Stale, damaged or concurrently created: replace it atomically.
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := reservedTmpPrefix + "tmp-" + hex.EncodeToString(rnd[:])
	if err := writeNewFileAt(d.fd, tmp, []byte(long), 0o400); err != nil {
		return "", false, d.pathErr("create", tmp, err)
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, sc); err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return "", false, d.pathErr("rename", sc, err)
	}
	return backing, false, nil
}

// ForgetName removes the sidecar of a long name once its entry is gone
// (unlinked, or renamed away). Call it only after the entry no longer
// exists under backing; for other names it does nothing.
//
// A sync tool's conflict copy of a long name needs the same sidecar as
// the original, so the sidecar stays while either still exists.
func (d *Dir) ForgetName(backing string) error {
	if d.v.PlaintextNames() {
		return nil
	}
	base := conflictBase(backing)
	if !isLongName(base) {
		return nil
	}
	if d.sidecarInUse(base, backing) {
		return nil
	}
	sc := LongNameSidecar(base)
	if err := unix.Unlinkat(d.fd, sc, 0); err != nil && err != unix.ENOENT {
		return d.pathErr("unlinkat", sc, err)
	}
	return nil
}

// OpenDir opens the subdirectory plain without following symlinks, so a
// backing symlink cannot make the vault read a directory outside it.
func (d *Dir) OpenDir(plain string) (*Dir, error) {
	b, err := d.BackingName(plain)
	if err != nil {
		return nil, err
	}
	return d.openBacking(b)
}

func (d *Dir) openBacking(backing string) (*Dir, error) {
	fd, err := openatRetry(d.fd, backing, dirOpenFlags, 0)
	if err != nil {
		return nil, d.pathErr("openat", backing, err)
	}
	return d.v.newDir(fd, d, backing)
}

// Mkdir creates the subdirectory plain and, in encrypted-name vaults, its
// IV file, returning the backing name. The directory is made with owner
// rwx so the IV can be written even for a requested mode like 0500, then
// set to the requested owner bits; a failure removes what was made, so no
// directory is left without an IV.
func (d *Dir) Mkdir(plain string, mode uint32) (backing string, err error) {
	backing, sub, err := d.MkdirOpen(plain, mode)
	if sub != nil {
		sub.Close()
	}
	return backing, err
}

// MkdirOpen is Mkdir that also returns the new directory open, with the
// IV it has just written, in encrypted-name vaults (nil in plaintext-name
// ones, where opening it would be an extra system call). The caller's
// first use of the new directory then needs no open and no read of the
// IV file. The caller owns sub.
func (d *Dir) MkdirOpen(plain string, mode uint32) (backing string, sub *Dir, err error) {
	backing, created, err := d.prepare(plain)
	if err != nil {
		return "", nil, err
	}
	mode &= 0o7777
	if d.v.PlaintextNames() {
		if err := unix.Mkdirat(d.fd, backing, mode); err != nil {
			return "", nil, d.pathErr("mkdirat", backing, err)
		}
		return backing, nil, nil
	}
	undoSidecar := func() {
		if created {
			unix.Unlinkat(d.fd, LongNameSidecar(backing), 0)
		}
	}
	if err := unix.Mkdirat(d.fd, backing, mode|0o700); err != nil {
		undoSidecar()
		return "", nil, d.pathErr("mkdirat", backing, err)
	}
	fail := func(op string, err error) (string, *Dir, error) {
		unix.Unlinkat(d.fd, backing, unix.AT_REMOVEDIR)
		undoSidecar()
		return "", nil, d.pathErr(op, backing, err)
	}
	fd, err := openatRetry(d.fd, backing, dirOpenFlags, 0)
	if err != nil {
		return fail("openat", err)
	}
	iv, err := writeDirIVAt(fd)
	if err != nil {
		unix.Close(fd)
		return fail("create "+DirIVName+" in", err)
	}
	if mode&0o700 != 0o700 {
		var st unix.Stat_t
		err := unix.Fstat(fd, &st)
		if err == nil {
			// Keep what the umask did to group and other bits.
			err = unix.Fchmod(fd, (uint32(st.Mode)&0o7077)|(mode&0o700))
		}
		if err != nil {
			unix.Unlinkat(fd, DirIVName, 0)
			unix.Close(fd)
			return fail("chmod", err)
		}
	}
	// The IV is the one now on disk: the file was created O_EXCL in a
	// directory made by this call, through this descriptor.
	return backing, &Dir{v: d.v, fd: fd, iv: iv, parent: d, name: backing}, nil
}

// List reads the directory and decrypts every name. It reads through a
// fresh descriptor, so concurrent listings of one Dir do not share a
// directory offset.
func (d *Dir) List() ([]DirEntry, error) { return d.list(false) }

// list is List; with orphans it also returns each long-name sidecar whose
// entry is missing, as an entry whose Err wraps ErrOrphanSidecar. Only
// the offline tools ask: in a live mount a sidecar exists for a moment
// before its entry (and after it, on unlink), which is no damage.
func (d *Dir) list(orphans bool) ([]DirEntry, error) {
	l, sidecars, longNames, err := d.snapshot(orphans)
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, l.Len(), l.Len()+len(sidecars))
	for i := range out {
		out[i] = l.At(i)
	}
	if len(sidecars) == 0 {
		return out, nil
	}
	nc := d.v.getNameCodec(d.v.keys.NameKey())
	defer d.v.putNameCodec(nc)
	// A sidecar is in use while its long name or a conflict copy of it
	// exists.
	for _, e := range sidecars {
		base := strings.TrimSuffix(e.Backing, longNameSuffix)
		if longNames[base] {
			continue
		}
		what := "its entry is missing"
		if name, err := nc.decryptName(d.iv, base, d.readSidecar); err == nil {
			what = fmt.Sprintf("its entry, %q, is missing", name)
		}
		e.Err = fmt.Errorf("%q: %w: %w %q (%s)", d.path(), ErrCorrupt, ErrOrphanSidecar, e.Backing, what)
		out = append(out, e)
	}
	return out, nil
}

// listing is a snapshot of a directory's entries in backing order. It
// keeps the backing names packed in one array and decrypts a name when
// At asks for it. When the directory has conflict copies of its IV, a
// name can only be shown once the others are known (see
// relabelAltDuplicates), so all are decrypted when the snapshot is
// taken.
type listing struct {
	d       *Dir
	names   []byte   // backing names, back to back
	ends    []uint32 // ends[i]: where entry i's backing name ends in names
	inos    []uint64
	types   []uint8    // S_IFMT bits >> 12
	decoded []DirEntry // every entry, when decrypted at snapshot time
}

// Len is the number of entries.
func (l *listing) Len() int {
	if l.decoded != nil {
		return len(l.decoded)
	}
	return len(l.ends)
}

// At returns entry i, 0 <= i < Len(), with its name decrypted (Err set,
// wrapping ErrCorrupt, when it does not decode). It may be called from
// several goroutines.
func (l *listing) At(i int) DirEntry {
	if l.decoded != nil {
		return l.decoded[i]
	}
	d := l.d
	e := l.undecoded(i)
	if d.v.PlaintextNames() {
		e.Name = e.Backing
		return e
	}
	d.decryptName(&e)
	return e
}

// decryptName sets e.Name from e.Backing, or e.Err (wrapping
// ErrCorrupt) when it does not decode, in an encrypted-name directory
// without conflict copies of its IV (the case where one name can be
// decrypted without knowing the others).
func (d *Dir) decryptName(e *DirEntry) {
	nc := d.v.getNameCodec(d.v.keys.NameKey())
	e.Name, _, e.Err = d.decryptEntry(nc, nil, e.Backing, d.readSidecar, 0)
	d.v.putNameCodec(nc)
	if e.Err != nil {
		e.Err = fmt.Errorf("%q: %w", d.path(), e.Err)
	}
}

// decryptShort sets e.Name from the backing name b when b is a short
// name token that decrypts under the directory's main IV to a valid
// name, and reports whether it did, without allocating anything but the
// name. Everything else (plaintext-name vaults, reserved and long names,
// conflict copies, damaged names, names under another IV) is left to
// decryptName: a canonical token holds only base64 characters, so it
// is never one of the names a listing leaves out or relabels, and it
// gets the name decryptName would give it.
func (d *Dir) decryptShort(b []byte, e *DirEntry) bool {
	if d.v.PlaintextNames() || len(b) > maxBackingNameLen ||
		bytes.HasPrefix(b, []byte(reservedPrefix)) || bytes.HasPrefix(b, []byte(reservedTmpPrefix)) {
		return false
	}
	nc := d.v.getNameCodec(d.v.keys.NameKey())
	defer d.v.putNameCodec(nc)
	plain, err := nc.s.Open(d.iv, b)
	if err != nil {
		return false
	}
	name := string(plain)
	if CheckPlainName(name) != nil {
		return false
	}
	e.Name = name
	return true
}

// undecoded is entry i of a snapshot not decrypted yet, without Name.
func (l *listing) undecoded(i int) DirEntry {
	start := uint32(0)
	if i > 0 {
		start = l.ends[i-1]
	}
	return DirEntry{Backing: string(l.names[start:l.ends[i]]), Ino: l.inos[i], Type: uint32(l.types[i]) << 12}
}

// snapshot reads the directory's entries, to be decrypted one by one
// with At. It reads through a fresh descriptor, as List does; At reads
// long-name sidecars through d. With orphans it also returns the
// long-name sidecars among the entries and the long names in use (see
// list).
func (d *Dir) snapshot(orphans bool) (l *listing, sidecars []DirEntry, longNames map[string]bool, err error) {
	fd, err := openatRetry(d.fd, ".", dirOpenFlags, 0)
	if err != nil {
		return nil, nil, nil, d.pathErr("openat", ".", err)
	}
	defer unix.Close(fd)
	plain := d.v.PlaintextNames()
	if orphans && !plain {
		longNames = map[string]bool{} // the long names seen, or copies of them
	}
	l = &listing{d: d}
	var ivCopies []string
	err = eachDirent(fd, func(ino uint64, typ uint32, name string) {
		if plain {
			if IsReservedName(name) {
				return
			}
		} else {
			if longNames != nil {
				if base := conflictBase(name); isLongName(base) {
					longNames[base] = true
				}
			}
			if skipMetadata(name) {
				if _, ok := isDirIVCopy(name); ok {
					ivCopies = append(ivCopies, name)
				}
				if longNames != nil && strings.HasSuffix(name, longNameSuffix) &&
					isLongName(strings.TrimSuffix(name, longNameSuffix)) {
					sidecars = append(sidecars, DirEntry{Backing: name, Ino: ino, Type: typ})
				}
				return
			}
		}
		l.names = append(l.names, name...)
		l.ends = append(l.ends, uint32(len(l.names)))
		l.inos = append(l.inos, ino)
		l.types = append(l.types, uint8(typ>>12))
	})
	if err != nil {
		return nil, nil, nil, d.pathErr("getdents", ".", err)
	}
	if plain {
		return l, nil, nil, nil
	}
	alts := d.noteAltIVs(ivCopies)
	if len(alts) == 0 {
		return l, sidecars, longNames, nil
	}
	nc := d.v.getNameCodec(d.v.keys.NameKey())
	defer d.v.putNameCodec(nc)
	decoded := make([]DirEntry, l.Len())
	altOf := make([]int, l.Len())
	for i := range decoded {
		e := l.undecoded(i)
		e.Name, altOf[i], e.Err = d.decryptEntry(nc, alts, e.Backing, d.readSidecar, 0)
		if e.Err != nil {
			e.Err = fmt.Errorf("%q: %w", d.path(), e.Err)
		}
		decoded[i] = e
	}
	relabelAltDuplicates(decoded, altOf, alts)
	return &listing{d: d, decoded: decoded}, sidecars, longNames, nil
}

// readSidecar reads a long name's sidecar in d.
func (d *Dir) readSidecar(name string) ([]byte, error) {
	return readSmallFileAt(d.fd, name, maxSidecarLen)
}
