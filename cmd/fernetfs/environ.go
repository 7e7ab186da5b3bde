package main

import "os"

// unsetSecretEnv removes the environment variable name from the
// process, including from the copy of the environment the kernel shows
// in /proc/PID/environ. A mount runs for days, and that file is readable
// by the same user (and root) the whole time.
func unsetSecretEnv(name string) {
	if _, ok := os.LookupEnv(name); !ok {
		return
	}
	os.Unsetenv(name)
	wipeInitialEnv(name)
}
