//go:build !race

package fernet

// raceEnabled is set under -race; see race_on_test.go.
const raceEnabled = false
