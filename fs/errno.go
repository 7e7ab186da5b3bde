package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"syscall"

	"github.com/fernetfs/fernetfs/vault"
)

// guard ends every request handler (deferred). It records file
// activity for --idle and turns a panic into EIO plus a log line, so a
// bug costs one request instead of the whole mount: go-fuse would
// recover too, but only after our own deferred unlocks, and its message
// goes to its own logger.
func (r *root) guard(op string, errno *syscall.Errno) {
	r.activity.Add(1)
	if p := recover(); p != nil {
		r.panicked(op, p, errno)
	}
}

// guardPassive is guard for requests that only look at the mount as a
// whole (stat of the mountpoint, statfs): shell prompts, df and mount
// watchers send them all the time, so they do not count as activity
// that keeps an --idle mount alive.
func (r *root) guardPassive(op string, errno *syscall.Errno) {
	if p := recover(); p != nil {
		r.panicked(op, p, errno)
	}
}

func (r *root) panicked(op string, p any, errno *syscall.Errno) {
	r.log.Printf("internal error in %s (request failed with EIO): %v\n%s", op, p, debug.Stack())
	*errno = syscall.EIO
}

// errno maps an error from vault or a syscall to the status a FUSE
// request returns. Corrupt data (or a backing entry of the wrong type)
// becomes EIO and one log line naming the plaintext path, so the user
// learns which file is damaged while the mount keeps serving everything
// else.
func (r *root) errno(n *node, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errors.Is(err, vault.ErrCorrupt) || errors.Is(err, vault.ErrNotRegular) {
		// Once per distinct problem: the kernel retries a failed read
		// (read-ahead, then the read itself) and programs reopen.
		msg := fmt.Sprintf("%s: %s: %v", r.path(n), op, err)
		r.logOnce("corrupt "+msg, "%s", msg)
		return syscall.EIO
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if backingDown(e) {
			r.logOnce("backing failing", "%s: %s: %v (BACKING %s is failing; logged once, later failures are not)",
				r.path(n), op, err, r.v.Dir())
		}
		return e
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	}
	r.log.Printf("%s: %s: %v", r.path(n), op, err)
	return syscall.EIO
}

// path is the plaintext path of n for log lines ("/" for the root,
// "(unlinked)" when the node has no name any more).
func (r *root) path(n *node) string {
	if n == nil {
		return "?"
	}
	if n.IsRoot() {
		return "/"
	}
	if _, p := n.Parent(); p == nil {
		return "(unlinked file)"
	}
	return "/" + n.Path(nil)
}

// nameErrno validates a plaintext name a request wants to create. The
// kernel does not enforce NAME_MAX for FUSE, so we do; a reserved name
// (only possible in plaintext-name vaults) is refused with EPERM.
func nameErrno(name string) syscall.Errno {
	if len(name) > 255 {
		return syscall.ENAMETOOLONG
	}
	if err := vault.CheckPlainName(name); err != nil {
		var e syscall.Errno
		if errors.As(err, &e) {
			return e
		}
		if name == "" || name == "." || name == ".." {
			return syscall.EINVAL
		}
		return syscall.EPERM
	}
	return 0
}

// backingDown reports errors that mean BACKING itself is failing (a
// network filesystem's server gone, a disk error), not one request's
// mistake: they are passed on as they are and logged once.
func backingDown(e syscall.Errno) bool {
	switch e {
	case syscall.EIO, syscall.ENOTCONN, syscall.EHOSTDOWN, syscall.EHOSTUNREACH,
		syscall.ETIMEDOUT, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ESHUTDOWN:
		return true
	}
	return false
}
