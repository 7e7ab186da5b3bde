package fs

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fernetfs/fernetfs/vault"
)

// The shared-storage tests again, on a real distributed filesystem: a
// one-node GlusterFS volume mounted twice with its FUSE client, two
// "machines" each running a fernetfs --shared-storage mount.

// glusterNoCache are the volume options README tells GlusterFS users
// of --shared-storage to turn off.
var glusterNoCache = []string{
	"performance.write-behind", "performance.read-ahead", "performance.io-cache",
	"performance.quick-read", "performance.stat-prefetch", "performance.open-behind",
}

// needGluster skips (or, under CI, fails) a test that lacks GlusterFS.
func needGluster(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: .ci/run installs glusterfs-server and glusterfs-client)", msg)
	}
	t.Skip(msg)
}

// glusterCLI runs the gluster command line in script mode.
func glusterCLI(args ...string) (string, error) {
	cmd := exec.Command("gluster", append([]string{"--mode=script"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("gluster %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// startGlusterd makes sure the management daemon answers, starting it
// (in the foreground, as a child of the test) if it does not run. A
// daemon it started is stopped and waited for when the test ends, so
// that no glusterd outlives the tests.
func startGlusterd(t *testing.T) {
	t.Helper()
	if _, err := glusterCLI("volume", "list"); err == nil {
		return
	}
	cmd := exec.Command("glusterd", "--no-daemon")
	if err := cmd.Start(); err != nil {
		needGluster(t, "glusterd does not start: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Errorf("glusterd (PID %d) still runs 20 s after SIGTERM", cmd.Process.Pid)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := glusterCLI("volume", "list")
		if err == nil {
			return
		}
		select {
		case <-exited:
			needGluster(t, "glusterd exited: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			needGluster(t, "glusterd started but does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// glusterVolume creates and starts a one-node volume with its brick in
// a temporary directory, mounts it twice with the GlusterFS FUSE client
// and returns the two mountpoints; everything is torn down in
// t.Cleanup.
func glusterVolume(t *testing.T) [2]string {
	t.Helper()
	requireFuse(t)
	if _, err := exec.LookPath("gluster"); err != nil {
		needGluster(t, "GlusterFS is not installed (gluster: %v)", err)
	}
	if os.Geteuid() != 0 {
		needGluster(t, "GlusterFS volumes need root")
	}
	startGlusterd(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "fernetfs-test-" + hex.EncodeToString(rnd[:])
	base := t.TempDir()
	brick := filepath.Join(base, "brick")
	if _, err := glusterCLI("volume", "create", name, host+":"+brick, "force"); err != nil {
		t.Fatalf("GlusterFS cannot create a volume: %v", err)
	}
	t.Cleanup(func() {
		if _, err := glusterCLI("volume", "stop", name, "force"); err != nil {
			t.Logf("stopping volume: %v", err)
		}
		if _, err := glusterCLI("volume", "delete", name); err != nil {
			t.Errorf("deleting volume: %v", err)
		}
	})
	// The client's performance translators cache data and attributes
	// regardless of locks; README ("Shared storage") asks for them off.
	for _, opt := range glusterNoCache {
		if _, err := glusterCLI("volume", "set", name, opt, "off"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := glusterCLI("volume", "start", name); err != nil {
		t.Fatalf("GlusterFS cannot start a volume: %v", err)
	}
	var mnts [2]string
	for i := range mnts {
		mnts[i] = filepath.Join(base, fmt.Sprintf("client%d", i))
		if err := os.Mkdir(mnts[i], 0o755); err != nil {
			t.Fatal(err)
		}
		var out []byte
		var err error
		// The volume's bricks may take a moment to accept clients.
		for try := 0; try < 20; try++ {
			out, err = exec.Command("mount", "-t", "glusterfs", host+":/"+name, mnts[i]).CombinedOutput()
			if err == nil && isMounted(t, mnts[i]) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("mount -t glusterfs: %v: %s", err, out)
		}
		dir := mnts[i]
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, 0); err != nil {
				syscall.Unmount(dir, syscall.MNT_DETACH)
			}
		})
	}
	return mnts
}

// TestGlusterShared runs the shared-storage tests on two GlusterFS
// clients of one volume, each test with its own vault on it.
func TestGlusterShared(t *testing.T) {
	mnts := glusterVolume(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *sharedPair)
	}{
		{"InterleavedWriters", testInterleavedWriters},
		{"Append", testSharedAppend},
		{"Namespace", testSharedNamespace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(mnts[0], tc.name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if _, _, err := vault.Create(dir, testPassword, vault.CreateOptions{Iterations: 1000}); err != nil {
				t.Fatal(err)
			}
			tc.fn(t, mountSharedPair(t, [2]string{dir, filepath.Join(mnts[1], tc.name)}))
		})
	}
}

// TestGlusterBackingFailure stops the volume under a --shared-storage
// mount: requests fail with EIO or ENOTCONN (no hang), the mount stays
// up and logs the failure once, and once the volume is back the mount
// works again with everything written before intact.
func TestGlusterBackingFailure(t *testing.T) {
	mnts := glusterVolume(t)
	dir := filepath.Join(mnts[0], "vault")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v, _, err := vault.Create(dir, testPassword, vault.CreateOptions{Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v.SetSharedStorage(true)
	m := mountVault(t, v, Options{})
	want := block(7)
	f, err := os.Create(filepath.Join(m.dir, "before"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	name := volumeOf(t, mnts[0])
	if _, err := glusterCLI("volume", "stop", name, "force"); err != nil {
		t.Fatal(err)
	}
	failed := func(err error) bool {
		return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOTCONN)
	}
	if _, err := os.ReadFile(filepath.Join(m.dir, "before")); !failed(err) {
		t.Errorf("read with the volume stopped: %v, want EIO or ENOTCONN", err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, "during"), want, 0o644); !failed(err) {
		t.Errorf("create with the volume stopped: %v, want EIO or ENOTCONN", err)
	}
	if _, err := os.ReadDir(m.dir); !failed(err) {
		t.Errorf("readdir with the volume stopped: %v, want EIO or ENOTCONN", err)
	}
	if n := countLines(m.log.String(), "is failing"); n != 1 {
		t.Errorf("backing failure logged %d times, want once; log:\n%s", n, m.log.String())
	}
	if _, err := glusterCLI("volume", "start", name, "force"); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, err = os.ReadFile(filepath.Join(m.dir, "before"))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the volume restarted: %d bytes, %v", len(got), err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, "after"), want, 0o644); err != nil {
		t.Fatalf("write after the volume restarted: %v", err)
	}
	checkVault(t, v)
}

// volumeOf is the GlusterFS volume mounted at dir.
func volumeOf(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && unescapeMount(f[1]) == dir {
			return f[0][strings.LastIndexByte(f[0], '/')+1:]
		}
	}
	t.Fatalf("%s is not mounted", dir)
	return ""
}
