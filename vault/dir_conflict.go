package vault

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// altIV is the IV held by a sync tool's conflict copy of a directory's
// fernetfs.diriv (two machines made the same directory before syncing),
// with the copy's label. Names the losing machine made in the directory
// are sealed under it.
type altIV struct {
	iv    []byte
	label string
}

// altIVs caches a directory's alternative IVs. They are read from the
// listing (every List refreshes them) or, before the first listing, by
// one scan on the first name that is not found under the main IV, so
// ordinary lookups in a directory without conflicts cost nothing more.
type altIVs struct {
	mu      sync.Mutex
	scanned bool
	ivs     []altIV
}

// get returns the known alternative IVs and whether they are known.
func (a *altIVs) get() ([]altIV, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ivs, a.scanned
}

func (a *altIVs) set(ivs []altIV) {
	a.mu.Lock()
	a.ivs, a.scanned = ivs, true
	a.mu.Unlock()
}

// skipMetadata reports whether a listing leaves out a backing name as
// vault metadata: reserved names other than long names, and conflict
// copies of reserved names (diriv, header, sidecars) other than those
// of long names.
func skipMetadata(name string) bool {
	if isLongName(name) {
		return false
	}
	base := conflictBase(name)
	if base != name && isLongName(base) {
		return false
	}
	return IsReservedName(name) || (base != name && IsReservedName(base))
}

// noteAltIVs reads the conflict copies of the directory IV among a
// listing's backing names, keeping each distinct IV that differs from the
// main one; copies identical to it are ignored. A copy that cannot be
// read is skipped here: the names it would decrypt are then reported as
// undecodable, never hidden.
func (d *Dir) noteAltIVs(names []string) []altIV {
	var alts []altIV
	for _, name := range names {
		label, ok := isDirIVCopy(name)
		if !ok {
			continue
		}
		iv, err := readSmallFileAt(d.fd, name, DirIVLen)
		if err != nil || len(iv) != DirIVLen || bytes.Equal(iv, d.iv) {
			continue
		}
		// Copies holding one IV are one alternative, labelled by the
		// smallest label, so the shown names do not depend on the
		// order of the listing.
		if k := slices.IndexFunc(alts, func(a altIV) bool { return bytes.Equal(a.iv, iv) }); k >= 0 {
			alts[k].label = min(alts[k].label, label)
			continue
		}
		alts = append(alts, altIV{iv: iv, label: label})
	}
	d.alt.set(alts)
	return alts
}

// scanAltIVs lists the directory's names (without decrypting them) to
// find conflict copies of its IV.
func (d *Dir) scanAltIVs() []altIV {
	names, err := d.rawNames()
	if err != nil {
		return nil
	}
	return d.noteAltIVs(names)
}

// rawNames lists the backing names of the directory.
func (d *Dir) rawNames() ([]string, error) {
	fd, err := openatRetry(d.fd, ".", dirOpenFlags, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	ents, err := ReadDirents(fd)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name
	}
	return names, nil
}

// decryptEntry decrypts a backing name under the directory IV, then
// under each alternative IV, then as a conflict copy of a name that
// decrypts (shown as "NAME (conflict LABEL)"). alt is the index of the
// alternative IV used, or -1. The error is the one under the main IV.
func (d *Dir) decryptEntry(nc *nameCodec, alts []altIV, name string, readSidecar func(string) ([]byte, error), depth int) (plain string, alt int, err error) {
	plain, err = nc.decryptName(d.iv, name, readSidecar)
	if err == nil {
		return plain, -1, nil
	}
	for i, a := range alts {
		if p, e := nc.decryptName(a.iv, name, readSidecar); e == nil {
			return p, i, nil
		}
	}
	if depth >= maxConflictDepth {
		return "", -1, err
	}
	base, label, ok := splitConflict(name)
	if !ok {
		return "", -1, err
	}
	p, i, berr := d.decryptEntry(nc, alts, base, readSidecar, depth+1)
	if berr != nil {
		return "", -1, err
	}
	cp := conflictPlain(p, label)
	if len(cp) > MaxNameLen {
		return "", -1, corruptName(name, fmt.Errorf("conflict copy of a name too long to show with its label"))
	}
	return cp, i, nil
}

// relabelAltDuplicates shows a name sealed under an alternative IV as a
// conflict copy ("NAME (conflict LABEL)" with the label of that IV's
// diriv copy) when the main IV's names already have it, so no listing
// holds one name twice. resolveExisting maps such a name back.
func relabelAltDuplicates(ents []DirEntry, altOf []int, alts []altIV) {
	if len(alts) == 0 {
		return
	}
	main := make(map[string]bool)
	for i, e := range ents {
		if e.Err == nil && altOf[i] < 0 {
			main[e.Name] = true
		}
	}
	for i := range ents {
		if ents[i].Err == nil && altOf[i] >= 0 && main[ents[i].Name] {
			ents[i].Name = conflictPlain(ents[i].Name, alts[altOf[i]].label)
		}
	}
}

// resolveExisting gives the backing name of an existing entry shown as
// plain, whose name under the main IV is b. Without alternative IVs and
// for a name that cannot be a conflict copy's it is b, with no syscall;
// otherwise b if it exists, else the first existing candidate (see
// candidates), else b.
func (d *Dir) resolveExisting(plain, b string) string {
	_, _, conflictish := splitConflictPlain(plain)
	alts, scanned := d.alt.get()
	if !conflictish && scanned && len(alts) == 0 {
		return b
	}
	if d.exists(b) {
		return b
	}
	if !scanned {
		alts = d.scanAltIVs()
		if !conflictish && len(alts) == 0 {
			return b
		}
	}
	nc := d.v.getNameCodec(d.v.keys.NameKey())
	defer d.v.putNameCodec(nc)
	for _, c := range d.candidates(nc, alts, plain, 0) {
		if c != b && d.exists(c) {
			return c
		}
	}
	return b
}

func (d *Dir) exists(backing string) bool {
	var st unix.Stat_t
	return unix.Fstatat(d.fd, backing, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// candidates lists the backing names an entry shown as plain may have:
// its token under each IV and, for "NAME (conflict LABEL)", NAME under
// the alternative IV with that label and every conflict copy with LABEL
// of every candidate of NAME.
func (d *Dir) candidates(nc *nameCodec, alts []altIV, plain string, depth int) []string {
	var out []string
	seal := func(iv []byte, p string) {
		if CheckPlainName(p) == nil {
			b, _ := nc.encryptName(iv, p)
			out = append(out, b)
		}
	}
	seal(d.iv, plain)
	for _, a := range alts {
		seal(a.iv, plain)
	}
	base, label, ok := splitConflictPlain(plain)
	if !ok || depth >= maxConflictDepth {
		return out
	}
	for _, a := range alts {
		if a.label == label {
			seal(a.iv, base)
		}
	}
	for _, c := range d.candidates(nc, alts, base, depth+1) {
		out = append(out, conflictNames(c, label)...)
	}
	return out
}

// sidecarInUse reports whether any entry of the directory other than
// except is the long name base or a conflict copy of it, and so needs
// base's sidecar.
func (d *Dir) sidecarInUse(base, except string) bool {
	names, err := d.rawNames()
	if err != nil {
		return true // keep the sidecar when unsure
	}
	for _, n := range names {
		if n != except && conflictBase(n) == base {
			return true
		}
	}
	return false
}
