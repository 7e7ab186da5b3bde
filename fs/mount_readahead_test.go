package fs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMountReadAhead checks that a mount made as root gets the bdi
// read-ahead window that lets several 1 MiB READs overlap (as another
// user the kernel's default stays: sysfs is root's), and that the
// kernel took maxBackground from INIT, so that it keeps the READs of
// two windows in flight.
func TestMountReadAhead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root may set a bdi's read_ahead_kb")
	}
	mnt, _, _ := mountTest(t, Options{})
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no bdi sysfs entry: %v", err)
	}
	if got, want := strings.TrimSpace(string(b)), fmt.Sprint(bdiReadAhead>>10); got != want {
		t.Errorf("%s = %s, want %s", path, got, want)
	}
	path = fmt.Sprintf("/sys/fs/fuse/connections/%d/max_background", st.Dev)
	if b, err = os.ReadFile(path); err != nil {
		t.Skipf("no fusectl entry: %v", err)
	}
	if got, want := strings.TrimSpace(string(b)), fmt.Sprint(maxBackground); got != want {
		t.Errorf("%s = %s, want %s", path, got, want)
	}
}

// TestSetReadAheadLeavesDisksAlone checks that setReadAhead on a path
// that is not a FUSE mount (a mountpoint after an unmount) does not
// change the read-ahead of the disk under it.
func TestSetReadAheadLeavesDisksAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root may set a bdi's read_ahead_kb")
	}
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) == 0 {
		t.Skipf("%s is on a device without a disk (major 0)", dir)
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no bdi sysfs entry: %v", err)
	}
	t.Cleanup(func() { os.WriteFile(path, before, 0) })
	want := strings.TrimSpace(string(before))
	n := 2 * bdiReadAhead
	if want == fmt.Sprint(n>>10) {
		n = bdiReadAhead / 2
	}
	setReadAhead(dir, n)
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(after)); got != want {
		t.Errorf("setReadAhead(%q) changed %s from %s to %s", dir, path, want, got)
	}
}
