// Package fs serves an unlocked vault as a FUSE filesystem through
// go-fuse's fs package. It is a thin adapter: every byte of content,
// every name and link target goes through package vault; this package
// maps FUSE requests onto *at syscalls relative to cached directory
// fds and onto one shared vault.Content per open backing inode.
package fs

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/vault"
)

// Mount mounts v at mountpoint and serves it in background goroutines.
// It returns once the kernel has the mount; the caller waits with
// server.Wait and unmounts with server.Unmount. A writable mount
// journals in-place writes (vault.StartJournal): once the server has
// stopped, the caller removes the journal with v.StopJournal.
//
// Modes arrive with the caller's umask already applied by the kernel
// (go-fuse does not negotiate FUSE_DONT_MASK), and the backing
// openat/mkdirat/mknodat apply this process's umask once more: new
// entries get exactly the caller's mode only in a process at umask 0,
// which is why the fernetfs command serves at umask 0.
func Mount(v *vault.Vault, mountpoint string, opts Options) (*fuse.Server, error) {
	rn, err := newRoot(v, opts)
	if err != nil {
		return nil, err
	}
	o := rn.mountOptions()
	rn.r().startJournal()
	raw := &killPrivFS{gofs.NewNodeFS(rn, o)}
	server, err := fuse.NewServer(raw, mountpoint, &o.MountOptions)
	if err != nil {
		rn.OnForget()
		rn.r().stopJournal()
		return nil, fmt.Errorf("mounting %s: %w", mountpoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		rn.OnForget()
		rn.r().stopJournal()
		return nil, fmt.Errorf("mounting %s: %w", mountpoint, err)
	}
	setReadAhead(mountpoint, bdiReadAhead)
	if opts.Idle > 0 {
		go rn.r().idleLoop(server, opts.Idle)
	}
	return server, nil
}

// maxReadAhead is the read-ahead negotiated in INIT, the size of one
// read-ahead READ: sequential reads arrive as 1 MiB READs, whose chunks
// vault decrypts on all cores, instead of 128 KiB ones.
const maxReadAhead = 1 << 20

// bdiReadAhead is the read-ahead window set on the mount's bdi: the
// kernel splits a window into READs of maxReadAhead and sends them
// together, so an 8 MiB window keeps eight to sixteen in flight (the
// next window is sent as the reader enters the current one). Each READ
// waits for its direct backing read (vault's readLines); with more of
// them in flight the disk gets a deeper queue and the waits overlap
// decryption of other READs. 8 MiB with maxBackground read a cold file
// fastest of the sizes tried (bench/README.md has the figures).
const bdiReadAhead = 8 << 20

// maxBackground is how many background requests (read-ahead READs) the
// kernel keeps in flight. At three quarters of it the connection
// counts as congested, and the kernel then drops the asynchronous part
// of a read-ahead window instead of sending it: the default, 12
// (congested at 9), would drop much of the second window in flight.
// A mount by a user other than root is capped lower by the kernel
// (/proc/sys/fs/fuse/max_user_bgreq, 40 by default).
const maxBackground = 24

// setReadAhead raises the read-ahead of the mount's backing device info
// to n bytes. The kernel caps a FUSE mount's read-ahead at the smaller
// of what INIT negotiates (MaxReadAhead) and the bdi's read_ahead_kb,
// which starts at 128 KiB, and only root may raise the latter (in
// sysfs). This is best effort: without it, reads are correct, only
// slower (bench/README.md). A FUSE mount's device is an anonymous one
// (major 0); any other means the path no longer shows the mount (it was
// unmounted, or something was mounted over it), and its bdi is not ours
// to change: it could be the disk under the mountpoint.
func setReadAhead(mountpoint string, n int) {
	if os.Geteuid() != 0 {
		return
	}
	var st unix.Stat_t
	if err := unix.Stat(mountpoint, &st); err != nil || unix.Major(st.Dev) != 0 {
		return
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	os.WriteFile(path, []byte(strconv.Itoa(n>>10)), 0)
}

// cacheTimeout is how long the kernel may cache entries, attributes,
// negative lookups and directory listings (see root.timeout). fernetfs
// is the only writer of BACKING, and every change made through the
// mount updates or invalidates these caches at once; only changes made
// behind its back (a sync tool writing into BACKING while it is
// mounted) wait up to this long to show. Half a minute is what
// securefs uses, and it outlasts the listing of a large directory, so
// that "rm -rf" (which reads the whole listing before it unlinks) and
// "ls -l" after a listing find their entries still cached instead of
// sending a LOOKUP for each.
const cacheTimeout = 30 * time.Second

// mountOptions is the go-fuse configuration, chosen for few requests
// per operation (the kernel caches entries, attributes and negative
// lookups for root.timeout) and large requests (1 MiB reads and
// writes, spread over the cores by vault).
func (rn *node) mountOptions() *gofs.Options {
	r := rn.r()
	sec := r.timeout
	fsName := r.opts.FsName
	if fsName == "" {
		fsName = r.v.Dir()
	}
	mo := fuse.MountOptions{
		FsName:        fsName,
		Name:          "fernetfs",
		MaxWrite:      1 << 20,
		MaxReadAhead:  maxReadAhead,
		MaxBackground: maxBackground,
		// One device reader per CPU, however many Ps the daemon has
		// (cmd/fernetfs gives it spare ones).
		MaxReaders: vault.Cores(),
		AllowOther: r.opts.AllowOther,
		Debug:      r.opts.Debug,
		Logger:     r.log,
		// Passthrough would let the kernel read the ciphertext file
		// directly, bypassing decryption.
		DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		// O_TRUNC arrives with OPEN instead of a separate SETATTR.
		// With HANDLE_KILLPRIV_V2 we clear suid/sgid ourselves (see
		// killPrivFS), which spares the kernel's probes for them: a
		// GETXATTR before every write and a GETATTR before every chown.
		ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC | fuse.CAP_HANDLE_KILLPRIV_V2,
		// Read replies are decrypted bytes, never a backing fd, so
		// go-fuse's splice attempt for them always fails and costs a
		// pipe write and drain per READ.
		DisableSplice: true,
		// As root, mount(2) directly (no fusermount3 needed);
		// otherwise go-fuse uses fusermount3.
		DirectMount: os.Geteuid() == 0,
		PanicHandler: func(p any) fuse.Status {
			r.log.Printf("internal error (request failed with EIO): %v", p)
			return fuse.EIO
		},
	}
	if r.v.SharedStorage() {
		// Files are opened with direct I/O (see sharedOpenFlags); this
		// still lets programs mmap them (and exec them) on Linux 6.6+.
		mo.ExtraCapabilities |= fuse.CAP_DIRECT_IO_ALLOW_MMAP
	}
	if r.opts.AllowOther {
		// Other users must be held to the plaintext modes by the
		// kernel; the daemon itself may bypass them.
		mo.Options = append(mo.Options, "default_permissions")
	}
	if r.opts.NoExec {
		mo.Options = append(mo.Options, "noexec")
	}
	if r.opts.ReadOnly {
		mo.Options = append(mo.Options, "ro")
		mo.DirectMountFlags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY
	}
	return &gofs.Options{
		MountOptions:    mo,
		EntryTimeout:    &sec,
		AttrTimeout:     &sec,
		NegativeTimeout: &sec,
		Logger:          r.log,
		RootStableAttr:  rn.rootStableAttr(),
		// Report modes as stored: a 0000 file stays 0000.
		NullPermissions: true,
	}
}
