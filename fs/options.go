package fs

import (
	"log"
	"sync/atomic"
	"time"
)

// Options are the choices a mount is made with; the CLI fills them from
// its flags.
type Options struct {
	// ReadOnly mounts with "ro" and opens backing files read-only, so
	// a mount used only for reading (or a backup restore check) can
	// never change the vault.
	ReadOnly bool
	// AllowOther lets other users see the mount; it always comes with
	// default_permissions so the kernel enforces the plaintext modes.
	AllowOther bool
	// NoExec mounts with "noexec": programs on the mount cannot be run.
	NoExec bool
	// Debug logs every FUSE request and reply (go-fuse's debug output),
	// which is how request counts per operation are measured.
	Debug bool
	// Idle, if positive, unmounts after this long without any file
	// activity and with no open files.
	Idle time.Duration
	// FsName is the "device" column of mount and df; empty means the
	// backing directory, which tells the user which vault is mounted.
	FsName string
	// Logger receives corruption reports and internal errors; nil
	// means stderr.
	Logger *log.Logger

	// cacheTimeout, if positive, overrides cacheTimeout (tests of
	// changes made behind the mount's back); shared storage still
	// uses 0.
	cacheTimeout time.Duration
	// maxOpenDirs overrides the bound on cached directory fds (tests).
	maxOpenDirs int
	// quietEntries, if set, counts the listed entries given to the
	// kernel without attributes (tests; see dirHandle.quiet).
	quietEntries *atomic.Int64
}
