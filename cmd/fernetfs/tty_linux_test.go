package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// cmdTty runs a command with a new terminal as its controlling
// terminal: "tty [-stdin] INPUT command args...". It types INPUT's
// text and an end-of-file, and once the command has exited and all it
// wrote to the terminal has been read, leaves that in $WORK/tty.out and
// the command's stdout and stderr in tty.stdout and tty.stderr; a
// nonzero exit fails. testscript's own ttyin/ttyout close the terminal
// as soon as the command exits, which can drop the last prompts it
// wrote while the reader was not yet scheduled.
func cmdTty(ts *testscript.TestScript, neg bool, args []string) {
	stdin := len(args) > 0 && args[0] == "-stdin"
	if stdin {
		args = args[1:]
	}
	if neg || len(args) < 2 {
		ts.Fatalf("usage: tty [-stdin] INPUT command [args...]")
	}
	input := ts.ReadFile(args[0])
	path, err := exec.LookPath(args[1])
	ts.Check(err)
	ctrl, tty, err := openPty()
	ts.Check(err)
	defer ctrl.Close()
	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "HOME="+ts.Getenv("HOME"), "TMPDIR="+ts.Getenv("TMPDIR"), "WORK="+ts.Getenv("WORK"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin {
		cmd.Stdin = tty
	}
	cmd.ExtraFiles = []*os.File{tty}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	err = cmd.Start()
	// Only the command holds the terminal now, so reading it ends (EIO)
	// once the command has exited and its output has been read.
	tty.Close()
	ts.Check(err)
	go ctrl.Write(append([]byte(input), 4 /* EOT */))
	var out bytes.Buffer
	_, rerr := io.Copy(&out, ctrl)
	werr := cmd.Wait()
	if rerr != nil && !errors.Is(rerr, syscall.EIO) {
		ts.Fatalf("reading the terminal: %v", rerr)
	}
	for name, b := range map[string][]byte{"tty.out": out.Bytes(), "tty.stdout": stdout.Bytes(), "tty.stderr": stderr.Bytes()} {
		ts.Check(os.WriteFile(ts.MkAbs(name), b, 0o644))
	}
	if werr != nil {
		ts.Fatalf("%s: %v\nstderr: %s", args[1], werr, stderr.Bytes())
	}
}

// openPty opens a new pseudo-terminal pair: the controlling side and
// the terminal.
func openPty() (ctrl, tty *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	ctrl = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		ctrl.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		ctrl.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	tty, err = os.OpenFile(filepath.Join("/dev/pts", fmt.Sprint(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ctrl.Close()
		return nil, nil, err
	}
	return ctrl, tty, nil
}
