package fs

import (
	"fmt"
	"log"
	"os"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fernetfs/fernetfs/vault"
)

// ReverseOptions are the choices a reverse mount is made with. It is
// always read-only.
type ReverseOptions struct {
	// AllowOther, NoExec, Debug, FsName and Logger are as in Options.
	AllowOther bool
	NoExec     bool
	Debug      bool
	FsName     string
	Logger     *log.Logger
	// Exclude holds gitignore-style patterns, relative to the plaintext
	// folder, of paths left out of the view.
	Exclude []string
}

// reverseRoot is the state one reverse mount shares between its nodes.
type reverseRoot struct {
	rv    *vault.Reverse
	plain *os.Root
	dirs  *reverseDirs
	log   *log.Logger
	excl  *excludeMatcher
	// logged remembers the entries already reported as left out, so
	// each costs one log line, not one per listing.
	loggedMu sync.Mutex
	logged   map[string]bool
}

// reverseTimeout is how long the kernel may cache a reverse view's
// entries, attributes and negative lookups: the plaintext folder is
// changed behind the view's back all the time (that is its purpose),
// so a change shows after at most a second.
const reverseTimeout = time.Second

// MountReverse mounts the encrypted view of rv's plaintext folder at
// mountpoint, read-only, and serves it in background goroutines. Nothing
// in the plaintext folder is ever written.
func MountReverse(rv *vault.Reverse, mountpoint string, opts ReverseOptions) (*fuse.Server, error) {
	excl, err := compileExcludes(opts.Exclude)
	if err != nil {
		return nil, err
	}
	plain, err := os.OpenRoot(rv.Dir())
	if err != nil {
		return nil, fmt.Errorf("opening plaintext folder: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "fernetfs: ", 0)
	}
	rr := &reverseRoot{rv: rv, plain: plain, dirs: newReverseDirs(plain), log: logger, excl: excl, logged: map[string]bool{}}
	rn := &rnode{rr: rr, kind: kindDir, iv: rv.DirIV("")}
	sec := reverseTimeout
	fsName := opts.FsName
	if fsName == "" {
		fsName = rv.Dir()
	}
	o := &gofs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       fsName,
			Name:         "fernetfs",
			MaxReadAhead: maxReadAhead,
			MaxReaders:   vault.Cores(),
			AllowOther:   opts.AllowOther,
			Debug:        opts.Debug,
			Logger:       logger,
			// The view is computed, never a backing fd.
			DisabledCapabilities: fuse.CAP_PASSTHROUGH,
			DisableSplice:        true,
			DirectMount:          os.Geteuid() == 0,
			DirectMountFlags:     syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY,
			Options:              []string{"ro"},
			PanicHandler: func(p any) fuse.Status {
				logger.Printf("internal error (request failed with EIO): %v", p)
				return fuse.EIO
			},
		},
		EntryTimeout:    &sec,
		AttrTimeout:     &sec,
		NegativeTimeout: &sec,
		Logger:          logger,
		NullPermissions: true,
	}
	if opts.AllowOther {
		o.MountOptions.Options = append(o.MountOptions.Options, "default_permissions")
	}
	if opts.NoExec {
		o.MountOptions.Options = append(o.MountOptions.Options, "noexec")
	}
	server, err := fuse.NewServer(gofs.NewNodeFS(rn, o), mountpoint, &o.MountOptions)
	if err != nil {
		plain.Close()
		return nil, fmt.Errorf("mounting %s: %w", mountpoint, err)
	}
	go server.Serve()
	// The plaintext folder stays open until the server ends.
	go func() {
		server.Wait()
		rr.dirs.closeAll()
		plain.Close()
	}()
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return nil, fmt.Errorf("mounting %s: %w", mountpoint, err)
	}
	setReadAhead(mountpoint, bdiReadAhead)
	return server, nil
}

// logOnce logs msg for key the first time only.
func (rr *reverseRoot) logOnce(key, msg string) {
	rr.loggedMu.Lock()
	defer rr.loggedMu.Unlock()
	if rr.logged[key] {
		return
	}
	rr.logged[key] = true
	rr.log.Print(msg)
}
