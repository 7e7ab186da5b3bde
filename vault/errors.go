package vault

import "errors"

// Sentinel errors that callers (the CLI's exit codes, the FUSE layer's
// errno mapping, tests) distinguish with errors.Is. Each is wrapped with
// the path or detail it concerns.
var (
	// ErrNotVault: the directory has no fernetfs.json header.
	ErrNotVault = errors.New("not a fernetfs vault")
	// ErrMalformedHeader: fernetfs.json exists but does not parse or has
	// out-of-range parameters.
	ErrMalformedHeader = errors.New("malformed vault header")
	// ErrUnsupported: the header names a format version or feature flag this
	// build does not know, so mounting could misread the data.
	ErrUnsupported = errors.New("unsupported vault format")
	// ErrWrongPassword: the password (or recovery key) does not unlock the
	// master key.
	ErrWrongPassword = errors.New("wrong password")
	// ErrBadRecoveryKey: the recovery key text is mistyped (checksum or
	// length wrong), as opposed to well-formed but wrong.
	ErrBadRecoveryKey = errors.New("malformed recovery key")
	// ErrHeaderTampered: the master key unwrapped, but the header MAC does
	// not match, so a parameter was changed by someone without the key.
	ErrHeaderTampered = errors.New("vault header MAC mismatch (tampered header)")
	// ErrCorrupt: stored content, a name or a link target failed
	// authentication or does not follow the format.
	ErrCorrupt = errors.New("corrupt data")
	// ErrOrphanSidecar: a long-name sidecar whose entry is missing
	// (reported by Walk, wrapped together with ErrCorrupt).
	ErrOrphanSidecar = errors.New("orphaned long-name sidecar")
)
