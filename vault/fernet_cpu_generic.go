//go:build !amd64 || purego

package vault

// hostCPU has no features where vault has no assembly; crypto/aes and
// crypto/sha256 still use the platform's instructions underneath.
var hostCPU cpuFeatures
