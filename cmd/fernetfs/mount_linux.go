package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fernetfs/fernetfs/fs"
	"github.com/fernetfs/fernetfs/vault"
	"github.com/fernetfs/fernetfs/vault/fernet"
)

func mountCommand() *command {
	return &command{
		name:     "mount",
		synopsis: "[--foreground] [--read-only] [--allow-other] [--noexec] [--shared-storage] [--idle DUR] [--log FILE] [--debug] BACKING MOUNTPOINT\n       fernetfs mount --reverse [--exclude PATTERN]... [--exclude-from FILE] PLAINDIR VIEW",
		summary:  "show a vault's plaintext at MOUNTPOINT (FUSE)",
		help: `
Unlock the vault in BACKING and mount its plaintext view at MOUNTPOINT, an
existing empty directory. fernetfs returns once the mount is ready and
keeps serving it in the background; stop it with
"fernetfs unmount MOUNTPOINT". With --foreground it stays attached (for
systemd and tests) and unmounts cleanly on SIGINT or SIGTERM.

With --reverse, PLAINDIR is a plain folder set up with
"fernetfs init --reverse", and VIEW shows it read-only as an encrypted
vault, the same bytes on every mount: back up or copy VIEW, and the copy
is an ordinary vault that mounts with the same password. --exclude
(repeatable) and --exclude-from take gitignore-style patterns relative to
PLAINDIR.

Without --shared-storage, the mount is the only writer of BACKING: the
kernel caches names, attributes and listings for 30 seconds, so a change
made to BACKING behind the mount's back (a sync tool) can take that long
to show. With --shared-storage, other fernetfs mounts (other machines on
NFS, GlusterFS or CephFS) may use BACKING at the same time: content
changes take byte-range locks on the backing files and nothing another
machine can change is cached (see README, "Shared storage").

Problems found while serving (a corrupt chunk, which fails with EIO) are
logged, each line naming the vault and the plaintext path: to --log FILE
if given; in the foreground to stderr; in the background to syslog when
/dev/log exists, else to a file the mount names (under
$XDG_STATE_HOME/fernetfs if set, else /var/log/fernetfs for root and
~/.local/state/fernetfs for others).
With NOTIFY_SOCKET set (systemd Type=notify) the mount reports READY=1
once it is ready.
` + describeMountHelper,
		run: runMount,
	}
}

// daemonEnv marks the re-executed background process. It carries no
// secret: the key arrives on a pipe (fd daemonKeyFd) and readiness goes
// back on another (fd daemonReadyFd).
const (
	daemonEnv     = "_FERNETFS_MOUNT_DAEMON"
	daemonReadyFd = 3
	daemonKeyFd   = 4
)

// mountFlags are the parsed mount options.
type mountFlags struct {
	cred       credFlags
	foreground bool
	readOnly   bool
	allowOther bool
	noexec     bool
	shared     bool
	debug      bool
	idle       time.Duration
	logFile    string
	rev        reverseFlags
}

func runMount(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var mf mountFlags
	mf.cred.register(f, true)
	f.BoolVar(&mf.foreground, "foreground", false, "stay attached instead of serving in the background")
	f.BoolVar(&mf.readOnly, "read-only", false, "mount read-only (writes fail with EROFS)")
	f.BoolVar(&mf.allowOther, "allow-other", false, "let other users access the mount (with the kernel checking file modes)")
	f.BoolVar(&mf.noexec, "noexec", false, "do not allow running programs from the mount")
	f.StringVar(&mf.logFile, "log", "", "append the mount's messages to `FILE`")
	f.BoolVar(&mf.shared, "shared-storage", false, "BACKING is used by other mounts at the same time: lock, do not cache")
	f.Var(durationFlag{&mf.idle}, "idle", "unmount after `DUR` (e.g. 30m) without file activity and open files")
	f.BoolVar(&mf.debug, "debug", false, "log every FUSE request and reply")
	mf.rev.register(f)
	pos, err := f.parseN(e, args, "BACKING", "MOUNTPOINT")
	if err != nil {
		return err
	}
	if err := mf.cred.check(c.name); err != nil {
		return err
	}
	protectSecrets()
	if mf.idle < 0 {
		return usageErrorf("mount: --idle must not be negative")
	}
	backing, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	mnt, err := filepath.Abs(pos[1])
	if err != nil {
		return err
	}
	if err := mf.rev.load(&mf); err != nil {
		return err
	}
	if mf.rev.reverse {
		return runMountReverse(e, &mf, backing, mnt)
	}
	if os.Getenv(daemonEnv) != "" {
		return runMountDaemon(e, &mf, backing, mnt)
	}
	// Cheap checks first, so a typo costs no password prompt.
	if _, err := vault.ReadHeader(backing); err != nil {
		return err
	}
	if err := checkMountpoint(mnt); err != nil {
		return err
	}
	v, err := unlock(e, &mf.cred, backing)
	if err != nil {
		return err
	}
	v.SetSharedStorage(mf.shared)
	if mf.foreground {
		return serveForeground(e, &mf, v, mnt)
	}
	return startDaemon(e, &mf, v.Dir(), v.RecoveryKey(), mnt)
}

// checkMountpoint refuses mountpoints that cannot or should not be
// mounted over, with one line saying why.
func checkMountpoint(mnt string) error {
	fi, err := os.Stat(mnt)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("mountpoint %s is a dead mount (its fernetfs process is gone); run 'fernetfs unmount %s' first", mnt, mnt)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint %s does not exist", mnt)
	case err != nil:
		return fmt.Errorf("mountpoint: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mnt)
	}
	if m, err := findMount(mnt); err != nil {
		return err
	} else if m != nil {
		return fmt.Errorf("mountpoint %s is already mounted (%s from %s)", mnt, m.fstype, m.source)
	}
	d, err := os.Open(mnt)
	if err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("mountpoint %s is not empty", mnt)
	}
	return nil
}

// mountOptions turns the flags into fs options; the backing path is the
// "device" that mount and df show.
func (mf *mountFlags) options(v *vault.Vault, logger *log.Logger) fs.Options {
	return fs.Options{
		ReadOnly:   mf.readOnly,
		AllowOther: mf.allowOther,
		NoExec:     mf.noexec,
		Debug:      mf.debug,
		Idle:       mf.idle,
		FsName:     v.Dir(),
		Logger:     logger,
	}
}

// serveForeground mounts and serves until unmounted (by fernetfs
// unmount, --idle, or a signal).
func serveForeground(e *env, mf *mountFlags, v *vault.Vault, mnt string) error {
	// The journal goes once serving ends, before the process does.
	defer v.StopJournal()
	return serveForegroundWith(e, mf, v.Dir(), v.Dir(), mnt, func(logger *log.Logger) (*fuse.Server, error) {
		lockKeys(v, logger)
		return fs.Mount(v, mnt, mf.options(v, logger))
	})
}

// serveForegroundWith is serveForeground for any kind of mount: dir is
// what is mounted (in messages), syncDir the directory to sync at the
// end ("" for none), and mount makes the mount with the logger.
func serveForegroundWith(e *env, mf *mountFlags, dir, syncDir, mnt string, mount func(*log.Logger) (*fuse.Server, error)) error {
	logger, closer, err := mountLogger(e.stderr, dir, mf.logFile, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	srv, sigs, err := mountCatchingSignals(func() (*fuse.Server, error) { return mount(logger) })
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "fernetfs: mounted %s at %s (stop with Ctrl-C or 'fernetfs unmount %s')\n", dir, mnt, mnt)
	if mf.logFile != "" {
		fmt.Fprintf(e.stderr, "fernetfs: messages go to %s\n", mf.logFile)
	}
	if err := sdNotify(e.getenv, "READY=1"); err != nil {
		logger.Print(err)
	}
	serve(srv, sigs, syncDir, mnt, logger)
	return nil
}

// mountCatchingSignals mounts with SIGINT and SIGTERM already caught on
// the returned channel, for serve. The mount appears before fs.Mount
// returns (go-fuse still completes INIT and opens a probe file on it), and
// a signal there with the default action would kill the process holding a
// file open on its own mount: the kernel then waits forever for the dying
// server to answer that file's FLUSH. Caught, the signal unmounts as soon
// as serve runs.
//
// It also sets the process umask to 0: the kernel has applied the
// caller's umask to the mode of every create, mkdir and mknod before the
// request arrives (go-fuse does not ask for FUSE_DONT_MASK, so the Umask
// field of CreateIn, MkdirIn and MknodIn is informational), so the
// backing syscalls must not apply ours on top
// (a mount started from a shell with umask 022 otherwise turns a
// caller's "umask 0; mkdir d" into 0755 and "create f 04777" into
// 04755). gocryptfs does the same. This process creates nothing else
// whose mode the umask would decide.
func mountCatchingSignals(mount func() (*fuse.Server, error)) (*fuse.Server, chan os.Signal, error) {
	unix.Umask(0)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	srv, err := mount()
	if err != nil {
		signal.Stop(sigs)
		return nil, nil, err
	}
	return srv, sigs, nil
}

// serve waits for the mount to end. SIGINT and SIGTERM (caught on sigs)
// unmount it; if files are still in use the mount is detached lazily, so
// the process still ends once they are closed. Afterwards the backing
// filesystem (of syncDir, unless empty) is synced, so a clean stop
// leaves everything on disk. A failed self-test of the codec's assembly
// goes to the mount's log too: the background process has no stderr.
func serve(srv *fuse.Server, sigs chan os.Signal, syncDir, mnt string, logger *log.Logger) {
	defer signal.Stop(sigs)
	defer startProfiles(logger)()
	if err := fernet.SelfTest(); err != nil {
		logger.Print(err)
	}
	if pct, ok := serverGCPercent(os.Getenv); ok {
		debug.SetGCPercent(pct)
	}
	if procs, ok := serverProcs(os.Getenv, vault.Cores()); ok {
		runtime.GOMAXPROCS(procs)
	}
	go func() {
		for range sigs {
			if err := srv.Unmount(); err != nil {
				logger.Printf("%s is busy; detaching it (it goes away when the last file on it is closed)", mnt)
				if err := lazyUnmount(mnt); err != nil {
					logger.Printf("unmount %s: %v", mnt, err)
				}
			}
		}
	}()
	srv.Wait()
	if syncDir == "" {
		return
	}
	if d, err := os.Open(syncDir); err == nil {
		unix.Syncfs(int(d.Fd()))
		d.Close()
	}
}

// serverGCPercent is the GC target of a serving mount, unless the user
// chose one with GOGC (ok is false then). A file server's heap is mostly
// long-lived (the inode table, pooled I/O buffers), so collecting at 25%
// growth instead of Go's default 100% cuts peak RSS by a third
// (extracting the Go source tree: 34 MiB -> 22 MiB) for a few collections
// a second of a heap this small, with no measurable slowdown.
func serverGCPercent(getenv func(string) string) (pct int, ok bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return 25, true
}

// serverProcs is the GOMAXPROCS of a serving mount on cores CPUs,
// unless the user chose one with GOMAXPROCS (ok is false then): one P
// per CPU, one for each goroutine that may wait in read(2) on the FUSE
// device (go-fuse lets one more than MaxReaders, at least 2, wait), and
// one more. A goroutine in a system call keeps its P; with none idle,
// the runtime's sysmon takes those Ps back every 20 µs, waking a thread
// each time, and a reader woken by a request often has to wait for a P
// on another thread. With a P to spare, sysmon backs off to sleeping
// 10 ms and a woken reader runs on its own P. CPU-bound work (vault's
// decryption) is still spread over the CPUs only (vault.Cores).
// bench/README.md has the measurements.
func serverProcs(getenv func(string) string, cores int) (procs int, ok bool) {
	if getenv("GOMAXPROCS") != "" {
		return 0, false
	}
	readers := max(cores, 2) + 1
	return cores + readers + 1, true
}

// startDaemon re-executes fernetfs as a detached server and waits until
// it reports the mount ready (exit 0) or failed (its error and status).
// The vault key travels on a pipe, never in argv or the environment, so
// the child needs no second password prompt or KDF run.
func startDaemon(e *env, mf *mountFlags, dir, recoveryKey, mnt string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the fernetfs executable to start the mount process: %w", err)
	}
	logFile, err := backgroundLogFile(e, mf, mnt)
	if err != nil {
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	keyR, keyW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return err
	}
	args := []string{"mount", "--foreground"}
	if mf.readOnly {
		args = append(args, "--read-only")
	}
	if mf.allowOther {
		args = append(args, "--allow-other")
	}
	if mf.noexec {
		args = append(args, "--noexec")
	}
	if mf.debug {
		args = append(args, "--debug")
	}
	if mf.shared {
		args = append(args, "--shared-storage")
	}
	if logFile != "" {
		args = append(args, "--log", logFile)
	}
	if mf.idle > 0 {
		args = append(args, "--idle", mf.idle.String())
	}
	args = append(args, mf.rev.daemonArgs()...)
	args = append(args, "--", dir, mnt)
	cmd := exec.Command(exe, args...)
	cmd.Dir = "/"
	cmd.Env = append(daemonEnviron(), daemonEnv+"=1")
	cmd.ExtraFiles = []*os.File{readyW, keyR} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	keyR.Close()
	if err != nil {
		keyW.Close()
		return fmt.Errorf("starting the mount process: %w", err)
	}
	_, werr := io.WriteString(keyW, recoveryKey+"\n")
	keyW.Close()
	line, rerr := bufio.NewReader(readyR).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "ready" {
		pid := cmd.Process.Pid
		cmd.Process.Release()
		fmt.Fprintf(e.stdout, "mounted %s at %s\nunmount with: fernetfs unmount %s\n", dir, mnt, shellQuote(mnt))
		if logFile != "" {
			fmt.Fprintf(e.stdout, "messages (such as corrupt data) go to %s\n", logFile)
		}
		// Under systemd Type=notify the serving process is the child.
		if err := sdNotify(e.getenv, fmt.Sprintf("READY=1\nMAINPID=%d", pid)); err != nil {
			fmt.Fprintf(e.stderr, "fernetfs: %v\n", err)
		}
		return nil
	}
	// The child failed: it sent "error STATUS MESSAGE", or died.
	state, _ := cmd.Process.Wait()
	if code, msg, ok := parseDaemonError(line); ok {
		return &daemonError{msg: msg, code: code}
	}
	switch {
	case werr != nil:
		return fmt.Errorf("mount process: %w", werr)
	case rerr != nil && state != nil:
		return fmt.Errorf("mount process ended before the mount was ready (%v)", state)
	}
	return fmt.Errorf("mount process: unexpected reply %q", line)
}

// daemonEnviron is our environment without the password variable (the
// child gets the key on a pipe and must not carry the password around)
// and without NOTIFY_SOCKET (the parent reports readiness for it).
func daemonEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, passwordEnv+"=") || strings.HasPrefix(kv, daemonEnv+"=") ||
			strings.HasPrefix(kv, notifySocketEnv+"=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// daemonError is a failure the background process reported: its
// message and the exit status it would have had in the foreground.
type daemonError struct {
	msg  string
	code int
}

func (d *daemonError) Error() string { return d.msg }

// Unwrap gives the sentinel behind the child's status, so exitCode maps
// the parent's exit status exactly as if the error had happened here.
func (d *daemonError) Unwrap() error {
	switch d.code {
	case exitUsage:
		return &usageError{msg: d.msg}
	case exitPassword:
		return vault.ErrWrongPassword
	case exitNotVault:
		return vault.ErrNotVault
	case exitCorruption:
		return vault.ErrCorrupt
	}
	return nil
}

func parseDaemonError(line string) (int, string, bool) {
	rest, ok := strings.CutPrefix(line, "error ")
	if !ok {
		return 0, "", false
	}
	codeStr, msg, ok := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeStr)
	if !ok || err != nil {
		return 0, "", false
	}
	return code, msg, true
}

// runMountDaemon is the background process: it reads the key, mounts,
// tells the parent, and serves until unmounted. Any failure before the
// mount is ready goes back to the parent as "error STATUS MESSAGE".
func runMountDaemon(e *env, mf *mountFlags, backing, mnt string) error {
	var v *vault.Vault
	defer func() {
		if v != nil {
			v.StopJournal() // once serving ends, before the process does
		}
	}()
	return daemonServe(e, mf, backing, backing, mnt, func(key string, logger *log.Logger) (*fuse.Server, error) {
		var err error
		v, err = vault.Unlock(backing, vault.Credential{RecoveryKey: key})
		if err != nil {
			return nil, err
		}
		v.SetSharedStorage(mf.shared)
		lockKeys(v, logger)
		return fs.Mount(v, mnt, mf.options(v, logger))
	})
}

// daemonServe is the background process for any kind of mount: it reads
// the key, has mount unlock and mount with it, tells the parent, and
// serves until unmounted. dir is what is mounted (in log lines), syncDir
// the directory to sync at the end ("" for none).
func daemonServe(e *env, mf *mountFlags, dir, syncDir, mnt string, mount func(key string, logger *log.Logger) (*fuse.Server, error)) error {
	closeInheritedFds(daemonReadyFd, daemonKeyFd)
	ready := os.NewFile(daemonReadyFd, "ready")
	keyFile := os.NewFile(daemonKeyFd, "key")
	report := func(err error) error {
		msg := strings.Join(strings.Fields(err.Error()), " ")
		fmt.Fprintf(ready, "error %d %s\n", exitCode(err), msg)
		ready.Close()
		return err
	}
	key, err := io.ReadAll(io.LimitReader(keyFile, 4096))
	keyFile.Close()
	if err != nil {
		return report(fmt.Errorf("reading the vault key: %w", err))
	}
	logger, closer, err := mountLogger(e.stderr, dir, mf.logFile, true)
	if err != nil {
		return report(err)
	}
	defer closer.Close()
	srv, sigs, err := mountCatchingSignals(func() (*fuse.Server, error) {
		return mount(strings.TrimSpace(string(key)), logger)
	})
	clear(key)
	if err != nil {
		return report(err)
	}
	fmt.Fprintln(ready, "ready")
	ready.Close()
	serve(srv, sigs, syncDir, mnt, logger)
	return nil
}

// durationFlag is a duration flag whose zero value prints as nothing, so
// --help does not advertise "--idle 0s" as a default.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 90s, 30m, 2h)", s)
	}
	*f.d = d
	return nil
}

// lockKeys keeps a mount's keys out of swap, best effort (see
// vault.Vault.Mlock): a failure is logged, and the mount goes on.
func lockKeys(k interface{ Mlock() error }, logger *log.Logger) {
	if err := k.Mlock(); err != nil {
		logger.Printf("keys may be swapped out: locking them in memory: %v", err)
	}
}

// protectSecrets makes this process non-dumpable before it handles the
// password and the keys: no core dump holds them, ptrace and
// /proc/PID/mem are closed to processes without CAP_SYS_PTRACE (even of
// the same user), and the files in /proc/PID become root's, so another
// process of a non-root user cannot read them. A mount process lives
// long, and its memory holds the master key.
func protectSecrets() {
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
