// Command fernetfs mounts, creates and maintains fernetfs vaults: folders
// whose files are stored as Fernet tokens in a backing directory.
//
// Every subcommand lives in its own file and is listed in commandTable.
// Errors end the process with one line on stderr, "fernetfs: <message>",
// and an exit status that scripts can rely on (see exitUsage and friends).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/term"

	"github.com/fernetfs/fernetfs/vault"
)

// Exit statuses. They are part of the CLI contract (README, --help), so
// scripts can tell a wrong password from a damaged vault.
const (
	exitOK         = 0 // success
	exitError      = 1 // any other failure (I/O, permissions, bad input)
	exitUsage      = 2 // bad command line, or a password is needed but there is no way to get one
	exitPassword   = 3 // wrong password or recovery key
	exitNotVault   = 4 // not a vault, or a malformed or unsupported header
	exitCorruption = 5 // corruption found (fsck), tampered header, corrupt content
)

// exitStatusHelp is the exit status table printed by "fernetfs --help".
const exitStatusHelp = `Exit status:
  0  success
  1  other error (I/O, permissions, bad input)
  2  usage error, or a password is needed but there is no password source
     and no terminal to ask on
  3  wrong password or recovery key
  4  not a vault, or a malformed or unsupported vault header
  5  corruption found (fsck), a tampered vault header, or corrupt content
`

// env is everything a command may touch outside its arguments. Commands
// get it as a parameter instead of reaching for os.Stdin and friends, so
// tests can drive them and nothing global is mutated.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// unsetenv removes a secret environment variable from the process
	// once it is read (see unsetSecretEnv); nil leaves it (tests).
	unsetenv func(string)
	// terminal returns the controlling terminal to prompt on, or an error
	// wrapping errNoTerminal when there is none: prompting must fail at
	// once rather than hang a script.
	terminal func() (*os.File, error)
	// stderrIsTerminal turns on progress display for long commands.
	stderrIsTerminal bool
}

// osEnv is the environment of the real process.
func osEnv() *env {
	return &env{
		stdin:            os.Stdin,
		stdout:           os.Stdout,
		stderr:           os.Stderr,
		getenv:           os.Getenv,
		unsetenv:         unsetSecretEnv,
		terminal:         openTerminal,
		stderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// command is one subcommand. synopsis is what follows "fernetfs NAME" in
// usage lines; help is the paragraph shown by "fernetfs NAME --help" before
// the flag list.
type command struct {
	name     string
	synopsis string
	summary  string
	help     string
	run      func(e *env, c *command, args []string) error
}

// commandTable lists the subcommands in the order "fernetfs --help" shows
// them. mount and unmount (mount_linux.go, unmount_linux.go) belong
// between init and passwd; on other systems linuxonly_other.go stands in
// for them and decrypt.
func commandTable() []*command {
	return []*command{
		initCommand(),
		mountCommand(),
		unmountCommand(),
		passwdCommand(),
		infoCommand(),
		fsckCommand(),
		catCommand(),
		decryptCommand(),
		versionCommand(),
	}
}

func main() {
	// Heap profile sampling keeps a table of call stacks (up to 1.4 MB,
	// touched a page per stack sampled) and a record per stack for the
	// life of the process; a mount serving 100,000 files has no use for
	// it unless a profile was asked for. Set before anything allocates
	// much, as the runtime asks.
	if os.Getenv(memProfileEnv) == "" {
		runtime.MemProfileRate = 0
	}
	os.Exit(run(osEnv(), os.Args[1:]))
}

// run executes one command line and returns the process exit status.
func run(e *env, args []string) int {
	cmds := commandTable()
	if len(args) == 0 {
		printMainUsage(e.stderr, cmds)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "--version", "-version", "-V":
		c := findCommand(cmds, "version")
		return fail(e, c.run(e, c, args[1:]))
	case "-h", "--help", "-help", "help":
		if name == "help" && len(args) > 1 {
			if c := findCommand(cmds, args[1]); c != nil {
				return fail(e, c.run(e, c, []string{"--help"}))
			}
			return fail(e, usageErrorf("help: unknown command %q", args[1]))
		}
		printMainUsage(e.stdout, cmds)
		return exitOK
	}
	c := findCommand(cmds, name)
	if c == nil && isMountHelperForm(args) {
		// mount(8) and fstab: "fernetfs BACKING MOUNTPOINT -o OPTIONS".
		margs, err := mountHelperArgs(args)
		if err != nil {
			return fail(e, err)
		}
		c = findCommand(cmds, "mount")
		return fail(e, c.run(e, c, margs))
	}
	if c == nil {
		if strings.HasPrefix(name, "-") {
			return fail(e, usageErrorf("unknown flag %s before the command (see 'fernetfs --help')", name))
		}
		return fail(e, usageErrorf("unknown command %q (see 'fernetfs --help')", name))
	}
	return fail(e, c.run(e, c, args[1:]))
}

func findCommand(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// fail prints err as one line and returns its exit status (0 for nil).
func fail(e *env, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	msg := escapeControl(strings.Join(strings.Fields(err.Error()), " "))
	fmt.Fprintf(e.stderr, "fernetfs: %s\n", msg)
	return exitCode(err)
}

// exitCode maps an error to the documented exit status through the
// sentinels it wraps.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, errNoTerminal):
		return exitUsage
	case errors.Is(err, vault.ErrWrongPassword), errors.Is(err, vault.ErrBadRecoveryKey):
		return exitPassword
	case errors.Is(err, vault.ErrHeaderTampered), errors.Is(err, vault.ErrCorrupt):
		return exitCorruption
	case errors.Is(err, vault.ErrNotVault), errors.Is(err, vault.ErrMalformedHeader),
		errors.Is(err, vault.ErrUnsupported):
		return exitNotVault
	default:
		return exitError
	}
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func printMainUsage(w io.Writer, cmds []*command) {
	fmt.Fprint(w, `fernetfs keeps a folder encrypted as Fernet tokens in a backing directory
and shows it in plaintext through a FUSE mount.

Usage:
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "  fernetfs %-8s %s\n", c.name, c.synopsis)
	}
	fmt.Fprint(w, "\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Commands that unlock a vault take the password from, in order:
  --password-file FILE     the file's content (one trailing newline removed)
  --password-command CMD   the output of "sh -c CMD" (one trailing newline removed)
  --password-fd N          the first line read from file descriptor N (a pipe)
  `+passwordEnv+`        the environment variable
  otherwise a prompt on the terminal (twice when choosing a new password).
--recovery-key-file FILE unlocks with the recovery key instead. Without any
source and without a terminal, fernetfs fails at once (exit status 2).

Flags may come before or after the arguments; "--" ends the flags.
Run "fernetfs COMMAND --help" for the flags of a command.

`+exitStatusHelp)
}
