package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/fernetfs/fernetfs/vault"
)

// passwordEnv is the environment variable consulted when no password flag
// is given.
const passwordEnv = "FERNETFS_PASSWORD"

// errNoTerminal: a password is needed, no source was given and there is
// no terminal to ask on. It maps to exit status 2 so a script fails fast
// and clearly instead of hanging on a prompt nobody sees.
var errNoTerminal = errors.New("no terminal to ask for a password on")

// credFlags are the password-source flags shared by every command that
// unlocks a vault (mount.go uses them too).
type credFlags struct {
	passwordFile    string
	passwordCommand string
	passwordFd      fdFlag
	recoveryKeyFile string
}

// fdFlag is a file descriptor number; unset (-1) prints as nothing, so
// --help shows no default.
type fdFlag struct{ fd int }

func (f *fdFlag) String() string {
	if f == nil || f.fd < 0 {
		return ""
	}
	return strconv.Itoa(f.fd)
}

func (f *fdFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid file descriptor %q", s)
	}
	f.fd = n
	return nil
}

func (f *fdFlag) isSet() bool { return f.fd >= 0 }

// register adds --password-file and --password-command, and
// --recovery-key-file when recovery is true (a new vault has no recovery
// key yet).
func (c *credFlags) register(f *flagSet, recovery bool) {
	f.StringVar(&c.passwordFile, "password-file", "", "read the password from `FILE` (one trailing newline removed)")
	f.StringVar(&c.passwordCommand, "password-command", "", "run `CMD` with sh -c and use its output as the password")
	c.passwordFd.fd = -1
	f.Var(&c.passwordFd, "password-fd", "read the password from the open file descriptor `N` (a pipe from the caller; up to the first newline)")
	if recovery {
		f.StringVar(&c.recoveryKeyFile, "recovery-key-file", "", "unlock with the recovery key in `FILE` instead of a password")
	}
}

// check rejects contradictory sources up front: which one the user meant
// is a guess, and a guess can lock out or write the wrong header.
func (c *credFlags) check(cmd string) error {
	n := 0
	for _, s := range []string{c.passwordFile, c.passwordCommand, c.passwordFd.String(), c.recoveryKeyFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return usageErrorf("%s: use only one of --password-file, --password-command, --password-fd and --recovery-key-file", cmd)
	}
	return nil
}

// password returns the password from the first source that is set:
// --password-file, --password-command, $FERNETFS_PASSWORD, else the
// terminal prompt, asked twice when confirm is set (choosing a password).
//
// $FERNETFS_PASSWORD is removed from the environment here, whichever
// source wins, so a long-running mount does not carry it (see unsetSecretEnv).
func (c *credFlags) password(e *env, prompt string, confirm bool) ([]byte, error) {
	fromEnv := e.getenv(passwordEnv)
	if e.unsetenv != nil {
		e.unsetenv(passwordEnv)
	}
	var pw []byte
	switch {
	case c.passwordFile != "":
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("reading password file: %w", err)
		}
		pw = trimNewline(b)
	case c.passwordCommand != "":
		b, err := runPasswordCommand(e, c.passwordCommand)
		if err != nil {
			return nil, err
		}
		pw = trimNewline(b)
	case c.passwordFd.isSet():
		b, err := readPasswordFd(c.passwordFd.fd)
		if err != nil {
			return nil, err
		}
		pw = trimNewline(b)
	case fromEnv != "":
		pw = []byte(fromEnv)
	default:
		pw, err := promptPassword(e, prompt, confirm)
		if errors.Is(err, errNoTerminal) {
			err = fmt.Errorf("%w; give one with --password-file, --password-command, --password-fd or %s", err, passwordEnv)
		}
		return pw, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	return pw, nil
}

// credential returns what unlocks an existing vault: the recovery key from
// --recovery-key-file, or else a password.
func (c *credFlags) credential(e *env, backing string) (vault.Credential, error) {
	if c.recoveryKeyFile != "" {
		b, err := os.ReadFile(c.recoveryKeyFile)
		if err != nil {
			return vault.Credential{}, fmt.Errorf("reading recovery key file: %w", err)
		}
		return vault.Credential{RecoveryKey: strings.TrimSpace(string(b))}, nil
	}
	pw, err := c.password(e, fmt.Sprintf("Password for %s: ", backing), false)
	if err != nil {
		return vault.Credential{}, err
	}
	return vault.Credential{Password: pw}, nil
}

// unlock opens the vault at backing. The header is read before any
// password is asked for, so a wrong path fails as "not a vault" without a
// prompt.
func unlock(e *env, c *credFlags, backing string) (*vault.Vault, error) {
	if _, err := vault.ReadHeader(backing); err != nil {
		return nil, err
	}
	cred, err := c.credential(e, backing)
	if err != nil {
		return nil, err
	}
	return vault.Unlock(backing, cred)
}

// trimNewline removes one trailing "\n" or "\r\n", the way shells and
// editors end a file, and nothing else: spaces may be part of a password.
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// maxPasswordLen bounds what is read from --password-fd.
const maxPasswordLen = 4096

// readPasswordFd reads the password from descriptor fd up to the first
// newline (kept, for trimNewline) or end of file, and closes fd: a script
// hands it a pipe, so the password is never in a file, an argument or
// the environment. It reads byte by byte so that nothing after the
// newline is consumed.
func readPasswordFd(fd int) ([]byte, error) {
	if fd <= 2 && fd != 0 {
		return nil, usageErrorf("--password-fd %d: stdout and stderr cannot carry a password", fd)
	}
	var pw []byte
	var b [1]byte
	for len(pw) <= maxPasswordLen {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("--password-fd %d: %w", fd, err)
		}
		if n == 0 {
			break
		}
		pw = append(pw, b[0])
		if b[0] == '\n' {
			break
		}
	}
	if len(pw) > maxPasswordLen {
		return nil, fmt.Errorf("--password-fd %d: password longer than %d bytes", fd, maxPasswordLen)
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return pw, nil
}

// runPasswordCommand runs cmd with sh -c. Its stderr and stdin are ours,
// so a command like "pass show x" or a pinentry can talk to the user.
func runPasswordCommand(e *env, cmd string) ([]byte, error) {
	var out bytes.Buffer
	x := exec.Command("sh", "-c", cmd)
	x.Stdin = e.stdin
	x.Stdout = &out
	x.Stderr = e.stderr
	if err := x.Run(); err != nil {
		return nil, fmt.Errorf("password command %q: %w", cmd, err)
	}
	return out.Bytes(), nil
}

// openTerminal returns the controlling terminal when fernetfs runs
// interactively: stdin must be a terminal and /dev/tty must open.
// Requiring both keeps a piped or cron invocation from blocking on a
// terminal it happens to inherit.
func openTerminal() (*os.File, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil, errNoTerminal
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", errNoTerminal, err)
	}
	return tty, nil
}

// promptPassword asks on the terminal without echo, twice when confirm is
// set.
func promptPassword(e *env, prompt string, confirm bool) ([]byte, error) {
	tty, err := e.terminal()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	pw, err := readPasswordFrom(tty, prompt)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if confirm {
		again, err := readPasswordFrom(tty, "Repeat password: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passwords do not match")
		}
	}
	return pw, nil
}

// readPasswordFrom prints prompt on tty and reads one line without echo.
// An interrupt while echo is off restores the terminal before exiting, so
// the user's shell is not left silent.
func readPasswordFrom(tty *os.File, prompt string) ([]byte, error) {
	fd := int(tty.Fd())
	fmt.Fprint(tty, prompt)
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case <-sigs:
			term.Restore(fd, state)
			fmt.Fprintln(tty)
			os.Exit(130)
		case <-done:
		}
	}()
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	if errors.Is(err, io.EOF) {
		return nil, errors.New("no password entered")
	}
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	return pw, nil
}
