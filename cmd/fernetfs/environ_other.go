//go:build !linux

package main

// wipeInitialEnv does nothing here: finding the environment block the
// process started with needs Linux's /proc/self/stat, so the variable is
// only gone from os.Environ and child processes.
func wipeInitialEnv(name string) {}
