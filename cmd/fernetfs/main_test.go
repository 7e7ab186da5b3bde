package main

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// platformTestCommands are test-only commands that platform-specific
// test files add in their init (modes_linux_test.go).
var platformTestCommands = map[string]func(){}

// TestMain lets testscript run the fernetfs main (and the test-only
// helpers in testcmds_test.go) as commands inside the test binary.
func TestMain(m *testing.M) {
	cmds := map[string]func(){
		"fernetfs":     func() { os.Exit(run(osEnv(), os.Args[1:])) },
		"fernetfs-put": func() { os.Exit(runPut(osEnv(), os.Args[1:])) },
	}
	for name, f := range platformTestCommands {
		cmds[name] = f
	}
	testscript.Main(m, cmds)
}

// TestScripts runs testdata/script/*.txtar. Vaults in scripts use
// --iterations 1000 so the KDF costs nothing.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":   cmdStatus,
			"grabkey":  cmdGrabKey,
			"replace":  cmdReplace,
			"flipbyte": cmdFlipByte,
			"corrupt":  cmdCorrupt,
			"tty":      cmdTty,
		},
	})
}

// cmdStatus runs a command and checks its exact exit status:
// "status N command args...". The output is kept for stdout/stderr checks.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// recoveryKeyRE matches the recovery key as init prints it.
var recoveryKeyRE = regexp.MustCompile(`\b[A-Z2-7]{8}(-[A-Z2-7]{1,8}){6}\b`)

// cmdGrabKey saves the recovery key printed by the last init: "grabkey FILE".
func cmdGrabKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: grabkey FILE")
	}
	k := recoveryKeyRE.FindString(ts.ReadFile("stdout"))
	if k == "" {
		ts.Fatalf("no recovery key in stdout")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(k+"\n"), 0o600))
}

// cmdReplace edits a file in place: "replace FILE OLD NEW" (OLD must occur).
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE OLD NEW")
	}
	name := ts.MkAbs(args[0])
	b, err := os.ReadFile(name)
	ts.Check(err)
	if !strings.Contains(string(b), args[1]) {
		ts.Fatalf("%s does not contain %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(name, []byte(strings.ReplaceAll(string(b), args[1], args[2])), 0o600))
}

// cmdFlipByte flips the low bit of one byte: "flipbyte FILE OFFSET"
// (a negative OFFSET counts from the end).
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	flipByte(ts, ts.MkAbs(args[0]), off)
}

func flipByte(ts *testscript.TestScript, name string, off int) {
	b, err := os.ReadFile(name)
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("offset %d outside %s (%d bytes)", off, name, len(b))
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(name, b, 0o600))
}
