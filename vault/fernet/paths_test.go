package fernet

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// allPaths is every combination of the assembly paths; the empty one is
// the portable path (crypto/cipher and base64.go's scalar code).
var allPaths = []cpuFeatures{{}, {aesni: true}, {avx2: true}, {aesni: true, avx2: true}}

// hasPath reports whether this build and CPU can run path f.
func hasPath(f cpuFeatures) bool {
	hw := detectCPU()
	return (!f.aesni || hw.aesni) && (!f.avx2 || hw.avx2)
}

// procFlags is what /proc/cpuinfo says the CPU has, independently of
// detectCPU, or ok false where there is no /proc/cpuinfo.
func procFlags() (aes, avx2, ok bool) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false, false, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, found := strings.Cut(line, ":"); found && strings.TrimSpace(k) == "flags" {
			flags := " " + v + " "
			return strings.Contains(flags, " aes "), strings.Contains(flags, " avx2 "), true
		}
	}
	return false, false, false
}

// mustRun reports whether skipping path f is a failure: under CI, in an
// amd64 build with the assembly, on a CPU that /proc/cpuinfo says has
// what f needs.
func mustRun(f cpuFeatures) bool {
	if os.Getenv("CI") == "" || runtime.GOARCH != "amd64" || !asmBuilt {
		return false
	}
	aes, avx2, ok := procFlags()
	return ok && (!f.aesni || aes) && (!f.avx2 || avx2)
}

// forEachPath runs fn as a subtest on every CPU path. A path this CPU or
// build lacks is skipped, saying so; see mustRun for when that fails.
func forEachPath(t *testing.T, fn func(t *testing.T, f cpuFeatures)) {
	t.Helper()
	for _, f := range allPaths {
		t.Run(f.String(), func(t *testing.T) {
			if !hasPath(f) {
				if mustRun(f) {
					t.Fatalf("path %s not run: detectCPU found %s, but /proc/cpuinfo lists the features", f, detectCPU())
				}
				t.Skipf("path %s not run: this build and CPU have %s (asmBuilt=%v)", f, detectCPU(), asmBuilt)
			}
			fn(t, f)
		})
	}
}

// availablePaths is the paths forEachPath runs, for fuzz targets (which
// cannot use subtests).
func availablePaths() []cpuFeatures {
	var out []cpuFeatures
	for _, f := range allPaths {
		if hasPath(f) {
			out = append(out, f)
		}
	}
	return out
}

// TestCPUPaths lists the paths available and run, and fails under CI when
// a path the CPU has would not run: detectCPU disagreeing with
// /proc/cpuinfo, or the host's choice dropping a path without a switch
// (FERNETFS_NOASM, GODEBUG cpu.*) asking for it, which means the
// known-answer check failed.
func TestCPUPaths(t *testing.T) {
	hw := detectCPU()
	var run, skipped []string
	for _, f := range allPaths {
		if hasPath(f) {
			run = append(run, f.String())
		} else {
			skipped = append(skipped, f.String())
		}
	}
	aes, avx2, ok := procFlags()
	t.Logf("GOARCH %s, assembly built %v; detectCPU: %s; /proc/cpuinfo (read %v): aes %v, avx2 %v", runtime.GOARCH, asmBuilt, hw, ok, aes, avx2)
	t.Logf("host uses %s; paths run: %v; not available: %v", hostCPU(), run, skipped)
	for _, f := range allPaths {
		if !hasPath(f) && mustRun(f) {
			t.Errorf("CI: path %s is not run although the CPU has its features", f)
		}
	}
	switched := os.Getenv("FERNETFS_NOASM") != "" || strings.Contains(os.Getenv("GODEBUG"), "cpu.")
	if !switched && hostCPU() != hw {
		msg := "host uses " + hostCPU().String() + ", not " + hw.String() + ", with no switch set: the known-answer check failed"
		if os.Getenv("CI") != "" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}
