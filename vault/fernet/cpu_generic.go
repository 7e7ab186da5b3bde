//go:build !amd64 || purego

package fernet

// detectCPU finds no assembly paths where this package has none;
// crypto/aes and crypto/sha256 still use the platform's instructions
// underneath.
func detectCPU() cpuFeatures { return cpuFeatures{} }

// asmBuilt tells tests that this build has no assembly.
const asmBuilt = false
