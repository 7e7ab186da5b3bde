//go:build !linux

package main

import "github.com/rogpeppe/go-internal/testscript"

// cmdTty: the terminal tests run on Linux only.
func cmdTty(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("tty: Linux only")
}
