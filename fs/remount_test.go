package fs

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// treeEntry is everything a remount must preserve about one entry.
type treeEntry struct {
	mode     uint32
	size     int64
	nlink    uint64
	uid, gid uint32
	ino      uint64
	mtime    unix.Timespec
	sum      [32]byte // content of a regular file
	link     string   // symlink target
	xattrs   string   // "name=value;" for every user.* attribute, sorted
}

func (e treeEntry) String() string {
	return fmt.Sprintf("mode %o size %d nlink %d owner %d:%d ino %d mtime %d.%09d sum %x link %q xattrs %q",
		e.mode, e.size, e.nlink, e.uid, e.gid, e.ino, e.mtime.Sec, e.mtime.Nsec, e.sum[:4], e.link, e.xattrs)
}

// snapshotTree records every entry under root (without following
// symlinks and without opening fifos).
func snapshotTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := treeEntry{mode: st.Mode, nlink: uint64(st.Nlink), uid: st.Uid, gid: st.Gid, ino: st.Ino, mtime: st.Mtim}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.size, e.sum = st.Size, sha256.Sum256(data)
			if int64(len(data)) != st.Size {
				return fmt.Errorf("%s: read %d bytes, stat says %d", rel, len(data), st.Size)
			}
		case unix.S_IFLNK:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
			e.size = st.Size
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			e.xattrs, err = userXattrs(p)
			if err != nil {
				return fmt.Errorf("%s: xattrs: %w", rel, err)
			}
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// userXattrs lists path's user.* attributes with their values.
func userXattrs(path string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		return "", err
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if strings.HasPrefix(name, "user.") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		vn, err := unix.Lgetxattr(path, name, buf)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s=%q;", name, buf[:vn])
	}
	return b.String(), nil
}

// diffTrees reports every difference between two snapshots.
func diffTrees(t *testing.T, what string, want, got map[string]treeEntry) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: %q is missing", what, name)
			continue
		}
		if g != w {
			t.Errorf("%s: %q changed:\n  was %v\n  now %v", what, name, w, g)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: %q appeared", what, name)
		}
	}
}

// buildRichTree fills dir with what a remount must keep: files at
// chunk boundaries, a sparse file, every kind of entry, modes, owners,
// exact times, hard links across directories, long and odd names,
// xattrs.
func buildRichTree(t *testing.T, dir string, v *vault.Vault, g *plainGen) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	chunk := v.ChunkSize()
	long := g.name(strings.Repeat("n", 190))
	must(os.MkdirAll(filepath.Join(dir, "a/b/c/d"), 0o755))
	must(os.Mkdir(filepath.Join(dir, "empty"), 0o700))
	must(os.Mkdir(filepath.Join(dir, long), 0o750))
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 5, 256<<10 + 3} {
		must(os.WriteFile(filepath.Join(dir, "a", fmt.Sprintf("size-%d", n)), g.bytes(n), 0o644))
	}
	must(os.WriteFile(filepath.Join(dir, long, long), g.bytes(2*chunk+3), 0o600))
	for _, name := range []string{"spaces in name", ".hidden", "ünïcödé-名前", "fernetfs.lookalike", "-dash"} {
		err := os.WriteFile(filepath.Join(dir, "a/b", name), g.bytes(100), 0o644)
		if v.PlaintextNames() && strings.HasPrefix(name, "fernetfs.") {
			// Reserved in plaintext-name vaults, where it would be
			// stored as is.
			if !errors.Is(err, syscall.EPERM) {
				t.Errorf("creating reserved name %q in a plaintext-name vault: %v, want EPERM", name, err)
			}
			continue
		}
		must(err)
	}
	sparse := filepath.Join(dir, "a/sparse")
	f, err := os.Create(sparse)
	must(err)
	must(f.Truncate(50 * int64(chunk)))
	_, err = f.WriteAt(g.bytes(chunk+2), 20*int64(chunk)+7)
	must(err)
	must(f.Close())

	must(os.WriteFile(filepath.Join(dir, "a/exec"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a/readonly"), g.bytes(10), 0o400))
	must(os.WriteFile(filepath.Join(dir, "a/setgid"), g.bytes(10), 0o644))
	must(unix.Chmod(filepath.Join(dir, "a/setgid"), 0o2755))
	must(os.Chown(filepath.Join(dir, "a/b/.hidden"), 1234, 5678))

	must(os.Link(filepath.Join(dir, "a/size-1"), filepath.Join(dir, "a/b/c/d/hard1")))
	must(os.Link(filepath.Join(dir, "a/size-1"), filepath.Join(dir, long, "hard2")))

	must(os.Symlink("../size-1", filepath.Join(dir, "a/b/rel")))
	must(os.Symlink("/absolute/"+g.hexTag(), filepath.Join(dir, "a/dangling")))
	must(os.Symlink(strings.Repeat("x/", 400)+g.hexTag(), filepath.Join(dir, "a/longtarget")))
	must(os.Symlink("a/b", filepath.Join(dir, "todir")))
	must(unix.Mkfifo(filepath.Join(dir, "a/fifo"), 0o640))

	must(unix.Setxattr(filepath.Join(dir, "a/size-1"), "user.note", []byte("note "+g.hexTag()), 0))
	must(unix.Setxattr(filepath.Join(dir, "a/size-1"), "user.empty", nil, 0))
	must(unix.Setxattr(filepath.Join(dir, "a/b"), "user.dir", g.bytes(2000), 0))

	// Exact times, set last (children change their directory's mtime).
	ts := []unix.Timespec{{Sec: 1_500_000_000, Nsec: 123_456_789}, {Sec: 1_600_000_000, Nsec: 987_654_321}}
	for _, p := range []string{"a/size-1", "a/sparse", "a/dangling", "todir", "a/fifo", "a/b/c", "empty"} {
		must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, p), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// TestRemountIdentical builds a rich tree, snapshots it (types, modes,
// owners, sizes, link counts, inode numbers, exact mtimes, contents,
// link targets, xattrs), unmounts, unlocks the vault again from its
// header as the CLI does, mounts, and requires the identical snapshot;
// then checks BACKING for plaintext. Default, 64-byte chunk and
// plaintext-name vaults.
func TestRemountIdentical(t *testing.T) {
	requireFuse(t)
	for _, cfg := range posixConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			backing, v := newTestVault(t, cfg.co)
			m := mountVault(t, v, Options{})
			g := newPlainGen(21)
			buildRichTree(t, m.dir, v, g)
			before := snapshotTree(t, m.dir)
			if len(before) < 30 {
				t.Fatalf("snapshot has only %d entries", len(before))
			}
			m.unmount(t)

			v2, err := vault.Unlock(backing, vault.Credential{Password: testPassword})
			if err != nil {
				t.Fatal(err)
			}
			m2 := mountVault(t, v2, Options{})
			diffTrees(t, "after remount", before, snapshotTree(t, m2.dir))
			m2.unmount(t)
			if !v.PlaintextNames() {
				g.assertBackingClean(t, backing)
			} else {
				assertNoPlaintext(t, backing, g.tag[:])
			}
		})
	}
}

// backingState is BACKING as files on disk: name, size, content and
// mtime of everything, to prove a read-only mount changed nothing.
func backingState(t *testing.T, backing string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(backing, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode %o size %d mtime %d.%d", st.Mode, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sum %x", sha256.Sum256(data))
		}
		if xs, err := userXattrs(p); err == nil {
			desc += " xattrs " + xs
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadOnlyMountRefusesWrites mounts a populated vault read-only:
// everything reads back identical, every kind of change fails with
// EROFS, and BACKING is byte-for-byte (and mtime-for-mtime) untouched.
func TestReadOnlyMountRefusesWrites(t *testing.T) {
	requireFuse(t)
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	g := newPlainGen(22)
	buildRichTree(t, m.dir, v, g)
	before := snapshotTree(t, m.dir)
	m.unmount(t)
	stateBefore := backingState(t, backing)

	ro := mountVault(t, v, Options{ReadOnly: true})
	mnt := ro.dir
	diffTrees(t, "read-only mount", before, snapshotTree(t, mnt))
	if data, err := readDirect(filepath.Join(mnt, "a/size-4097")); err != nil || len(data) != 4097 {
		t.Errorf("O_DIRECT read on the read-only mount: %d bytes, %v", len(data), err)
	}

	file := filepath.Join(mnt, "a/size-4096")
	p := func(rel string) string { return filepath.Join(mnt, rel) }
	refusals := []struct {
		op  string
		err error
	}{
		{"open O_WRONLY", openErr(file, unix.O_WRONLY)},
		{"open O_RDWR", openErr(file, unix.O_RDWR)},
		{"open O_APPEND", openErr(file, unix.O_WRONLY|unix.O_APPEND)},
		{"open O_TRUNC", openErr(file, unix.O_RDWR|unix.O_TRUNC)},
		{"create", openErr(p("a/new"), unix.O_WRONLY|unix.O_CREAT)},
		{"truncate", unix.Truncate(file, 1)},
		{"mkdir", unix.Mkdir(p("newdir"), 0o755)},
		{"rmdir", unix.Rmdir(p("empty"))},
		{"unlink", unix.Unlink(file)},
		{"rename", unix.Rename(file, p("a/renamed"))},
		{"rename dir", unix.Rename(p("a/b"), p("moved"))},
		{"link", unix.Link(file, p("a/link"))},
		{"symlink", unix.Symlink("x", p("a/sym"))},
		{"mkfifo", unix.Mkfifo(p("a/fifo2"), 0o644)},
		{"chmod", unix.Chmod(file, 0o600)},
		{"chown", unix.Lchown(file, 1, 1)},
		{"utimes", unix.UtimesNanoAt(unix.AT_FDCWD, file, []unix.Timespec{{Sec: 1}, {Sec: 1}}, 0)},
		{"setxattr", unix.Setxattr(p("a/size-1"), "user.new", []byte("v"), 0)},
		{"removexattr", unix.Removexattr(p("a/size-1"), "user.note")},
	}
	for _, r := range refusals {
		if !errors.Is(r.err, syscall.EROFS) {
			t.Errorf("%s on a read-only mount: %v, want EROFS", r.op, r.err)
		}
	}
	// A read-only handle cannot be used to write either.
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Error("write through a read-only handle succeeded")
	}
	f.Close()

	diffTrees(t, "read-only mount after refused writes", before, snapshotTree(t, mnt))
	ro.unmount(t)
	after := backingState(t, backing)
	for name, desc := range stateBefore {
		if after[name] != desc {
			t.Errorf("BACKING %s changed under a read-only mount:\n  was %s\n  now %s", name, desc, after[name])
		}
	}
	if len(after) != len(stateBefore) {
		t.Errorf("BACKING has %d entries after the read-only mount, %d before", len(after), len(stateBefore))
	}
}

// openErr opens and closes path, returning open's error.
func openErr(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// TestRemountAfterEveryKindOfChange changes a tree in every way (rename
// across directories and over files, exchange, truncate, unlink of a
// hard link, rmdir, xattr removal, chmod) and checks the changed tree
// survives a remount, so no change lives only in the daemon's memory.
func TestRemountAfterEveryKindOfChange(t *testing.T) {
	requireFuse(t)
	_, v := newTestVault(t, vault.CreateOptions{ChunkSize: 64})
	m := mountVault(t, v, Options{})
	g := newPlainGen(23)
	buildRichTree(t, m.dir, v, g)
	p := func(rel string) string { return filepath.Join(m.dir, rel) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Rename(p("a/size-65"), p("a/b/c/moved")))
	must(os.Rename(p("a/size-64"), p("a/size-63")))
	// a/b (full) and empty (empty) swap places.
	must(unix.Renameat2(unix.AT_FDCWD, p("a/b"), unix.AT_FDCWD, p("empty"), unix.RENAME_EXCHANGE))
	must(os.Truncate(p("a/size-197"), 100))
	must(os.Remove(p("empty/c/d/hard1")))
	must(os.Remove(p("a/b")))
	must(os.Rename(p("todir"), p("todir2")))
	must(unix.Removexattr(p("a/size-1"), "user.note"))
	must(os.Chmod(p("a/exec"), 0o700))
	f, err := os.OpenFile(p("a/sparse"), os.O_WRONLY|os.O_APPEND, 0)
	must(err)
	_, err = f.Write(g.bytes(99))
	must(err)
	must(f.Close())
	before := snapshotTree(t, m.dir)
	for name, check := range map[string]func(treeEntry) bool{
		"empty/c/moved":   func(e treeEntry) bool { return e.size == 65 },
		"a/size-63":       func(e treeEntry) bool { return e.size == 64 },
		"a/size-197":      func(e treeEntry) bool { return e.size == 100 },
		"a/size-1":        func(e treeEntry) bool { return e.nlink == 2 && !strings.Contains(e.xattrs, "user.note") },
		"a/sparse":        func(e treeEntry) bool { return e.size == 50*64+99 },
		"empty/.hidden":   func(e treeEntry) bool { return e.uid == 1234 },
		"todir2":          func(e treeEntry) bool { return e.link == "a/b" },
		"a/exec":          func(e treeEntry) bool { return e.mode&0o777 == 0o700 },
		"empty/rel":       func(e treeEntry) bool { return e.link == "../size-1" },
		"empty/c/d":       func(e treeEntry) bool { return e.nlink == 2 },
		"a/size-64":       nil,
		"a/b":             nil,
		"todir":           nil,
		"a/b/c/moved":     nil,
		"empty/c/d/hard1": nil,
	} {
		e, ok := before[name]
		switch {
		case check == nil && ok:
			t.Errorf("%s still exists: %v", name, e)
		case check != nil && (!ok || !check(e)):
			t.Errorf("%s is not as changed: %v (exists %v)", name, e, ok)
		}
	}
	m.unmount(t)
	m2 := mountVault(t, v, Options{})
	diffTrees(t, "after remount", before, snapshotTree(t, m2.dir))
}
