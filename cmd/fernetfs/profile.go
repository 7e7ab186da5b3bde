package main

import (
	"log"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiling of the serving process, for performance work (see
// bench/README.md): FERNETFS_CPUPROFILE=FILE records a CPU profile and
// FERNETFS_MEMPROFILE=FILE writes a heap profile (allocations since start
// and live memory) when the mount ends. They are environment variables,
// not flags, so they reach the background mount process unchanged and
// stay out of the user-facing CLI.
const (
	cpuProfileEnv = "FERNETFS_CPUPROFILE"
	memProfileEnv = "FERNETFS_MEMPROFILE"
)

// startProfiles starts what the environment asks for and returns the
// function that finishes the profiles; problems are logged, never fatal.
func startProfiles(logger *log.Logger) (stop func()) {
	var cpu *os.File
	if path := os.Getenv(cpuProfileEnv); path != "" {
		f, err := createProfile(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
			if err != nil {
				f.Close()
			}
		}
		if err != nil {
			logger.Printf("%s: %v", cpuProfileEnv, err)
		} else {
			cpu = f
		}
	}
	memPath := os.Getenv(memProfileEnv)
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath != "" {
			runtime.GC()
			f, err := createProfile(memPath)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				logger.Printf("%s: %v", memProfileEnv, err)
			}
		}
	}
}

// createProfile creates a profile file readable by its owner only: the
// serving process runs at umask 0 (see mountCatchingSignals), and a
// profile holds memory contents and file names.
func createProfile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}
