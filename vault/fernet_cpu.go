package vault

//go:generate go run fernet_asmgen.go

// cpuFeatures selects the assembly paths a Codec takes. NewCodec uses the
// host's (hostCPU); tests switch features off to run every fallback on the
// same machine and compare it with the reference.
type cpuFeatures struct {
	aesni bool // AES-NI CBC (cbc_amd64.s)
	avx2  bool // AVX2 base64url (base64_amd64.s)
}
