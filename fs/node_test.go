package fs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// TestNodeSize pins the memory of a node, which a directory of many
// files pays once per file the kernel knows.
func TestNodeSize(t *testing.T) {
	if s := unsafe.Sizeof(node{}); s > 96 {
		t.Errorf("node is %d bytes, want at most 96", s)
	}
}

// TestNodeOtherFilesystem checks nodes on another filesystem than the
// vault's root (a tmpfs mounted on a backing directory), whose keys
// cannot be derived from their go-fuse identity: an open file's size
// and content are its own, shared with its hard link, and the listing
// shows each file once with the inode number a stat gives.
func TestNodeOtherFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	backing, v := newTestVault(t, vault.CreateOptions{})
	m := mountVault(t, v, Options{})
	if err := os.Mkdir(filepath.Join(m.dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.unmount(t)
	// The backing directory of sub is the one that is not metadata.
	ents, err := os.ReadDir(backing)
	if err != nil {
		t.Fatal(err)
	}
	var sub string
	for _, e := range ents {
		if e.IsDir() && !vault.IsReservedName(e.Name()) {
			sub = filepath.Join(backing, e.Name())
		}
	}
	iv, err := os.ReadFile(filepath.Join(sub, vault.DirIVName))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=4m,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(sub, 0); err != nil {
			unix.Unmount(sub, unix.MNT_DETACH)
		}
	})
	if err := os.WriteFile(filepath.Join(sub, vault.DirIVName), iv, 0o400); err != nil {
		t.Fatal(err)
	}

	m = mountVault(t, v, Options{})
	dir := filepath.Join(m.dir, "sub")
	var rootSt, dirSt syscall.Stat_t
	if err := syscall.Stat(m.dir, &rootSt); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(dir, &dirSt); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("hello, other filesystem"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("!"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != 24 {
			t.Errorf("%s: size %d while open, want 24", name, st.Size())
		}
		mustRead(t, filepath.Join(dir, name), "hello, other filesystem!")
	}
	if err := os.WriteFile(filepath.Join(dir, "c"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	ls, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	inos := map[uint64]string{}
	for _, e := range ls {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		ino := info.Sys().(*syscall.Stat_t).Ino
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, e.Name()), &st); err != nil {
			t.Fatal(err)
		}
		if st.Ino != ino {
			t.Errorf("%s: listed with inode %d, stat says %d", e.Name(), ino, st.Ino)
		}
		inos[ino] += e.Name()
	}
	if len(ls) != 3 || len(inos) != 2 || inos[dirSt.Ino] != "" {
		t.Errorf("listing %v, inodes %v", ls, inos)
	}
}
