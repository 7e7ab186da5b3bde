//go:build race

package fernet

// raceEnabled is set under -race. This package starts no goroutines, so
// the race detector has nothing to find in it and only slows the
// exhaustive tests down tenfold: under -race they sample (see
// lengthsToTest), and test.sh runs them in full without it.
const raceEnabled = true
