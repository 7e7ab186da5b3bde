//go:build linux

package main

import (
	"fmt"
	"io"
	"log"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Where a mount's messages go (the only sign of damage is a "corrupt
// data" line, so they must reach someone): --log FILE if given; in the
// foreground, stderr (which systemd sends to the journal); in the
// background, syslog when /dev/log exists, else a log file whose path
// the mount prints. Every line names the vault; the fs package adds the
// plaintext path.

// syslogSocket is where syslog(3) and log/syslog deliver.
const syslogSocket = "/dev/log"

// logPrefix starts every line of a mount's log with the vault it serves.
func logPrefix(backing string) string {
	return "fernetfs: vault " + backing + ": "
}

// defaultLogFile is the background mount's log file when there is no
// syslog, named after the mountpoint: under $XDG_STATE_HOME/fernetfs when
// that is set (an explicit choice, root's too), else /var/log/fernetfs
// for root and ~/.local/state/fernetfs for other users.
func defaultLogFile(getenv func(string) string, uid int, mnt string) (string, error) {
	name := strings.ReplaceAll(strings.Trim(mnt, "/"), "/", "-")
	if name == "" {
		name = "root"
	}
	name += ".log"
	if st := getenv("XDG_STATE_HOME"); filepath.IsAbs(st) {
		return filepath.Join(st, "fernetfs", name), nil
	}
	if uid == 0 {
		return filepath.Join("/var/log/fernetfs", name), nil
	}
	home := getenv("HOME")
	if !filepath.IsAbs(home) {
		return "", fmt.Errorf("no log file: neither XDG_STATE_HOME nor HOME is an absolute path (use --log FILE)")
	}
	return filepath.Join(home, ".local", "state", "fernetfs", name), nil
}

// lazyLogFile is a log file opened (with its directory) at the first
// message, so a mount that has nothing to say leaves no empty file. The
// file is private: it names files of the vault. log.Logger serializes
// writes, so no lock is needed.
type lazyLogFile struct {
	path string
	f    *os.File
	err  error
}

var _ io.WriteCloser = (*lazyLogFile)(nil)

// checkLogFile fails early if path's directory cannot be made or
// written, so a bad --log fails the mount instead of losing messages.
func checkLogFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("log file %s: directory not writable: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("log file %s: not a regular file", path)
	}
	return nil
}

func (l *lazyLogFile) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		if l.err = os.MkdirAll(filepath.Dir(l.path), 0o700); l.err == nil {
			l.f, l.err = os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(p)
}

func (l *lazyLogFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// backgroundLogFile is the log file the parent chooses for a background
// mount: the --log one, none when syslog is there, else the default.
func backgroundLogFile(e *env, mf *mountFlags, mnt string) (string, error) {
	if mf.logFile != "" {
		return filepath.Abs(mf.logFile)
	}
	if _, err := os.Stat(syslogSocket); err == nil {
		return "", nil
	}
	return defaultLogFile(e.getenv, os.Geteuid(), mnt)
}

// mountLogger is the logger of a serving mount: to logFile if set
// (timestamped, since a file has no other clock), else to syslog in the
// background, else to stderr. The returned closer ends it.
func mountLogger(stderr io.Writer, backing, logFile string, background bool) (*log.Logger, io.Closer, error) {
	prefix := logPrefix(backing)
	if logFile != "" {
		if err := checkLogFile(logFile); err != nil {
			return nil, nil, err
		}
		f := &lazyLogFile{path: logFile}
		return log.New(f, prefix, log.LstdFlags|log.Lmsgprefix), f, nil
	}
	if background {
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_WARNING, "fernetfs"); err == nil {
			return log.New(w, "vault "+backing+": ", 0), w, nil
		}
	}
	return log.New(stderr, prefix, 0), io.NopCloser(nil), nil
}
