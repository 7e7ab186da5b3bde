//go:build amd64 && !purego

package vault

// cpuid executes the CPUID instruction.
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// xgetbv reads extended control register 0 (which register state the OS
// saves on context switch).
func xgetbv() (eax, edx uint32)

// CPU features the Fernet hot path dispatches on, fixed at package
// initialisation and only read afterwards.
var (
	// haveAESNI: AES-NI (CPUID.1:ECX bit 25), for the SSE CBC assembly.
	haveAESNI bool
	// haveAVX2: AVX2 (CPUID.7:EBX bit 5) with YMM state enabled by the
	// OS (OSXSAVE, and XCR0 bits 1 and 2), for the base64 assembly.
	haveAVX2 bool
	// haveSHANI: the SHA extensions (CPUID.7:EBX bit 29) plus SSSE3,
	// SSE4.1, AVX and AES-NI, all of which the HMAC and stitched
	// CBC+HMAC assembly use.
	haveSHANI bool
)

func init() {
	maxLeaf, _, _, _ := cpuid(0, 0)
	_, _, c1, _ := cpuid(1, 0)
	haveAESNI = c1&(1<<25) != 0
	ssse3 := c1&(1<<9) != 0
	sse41 := c1&(1<<19) != 0
	osAVX := c1&(1<<27) != 0 && c1&(1<<28) != 0
	if osAVX {
		xcr0, _ := xgetbv()
		osAVX = xcr0&6 == 6
	}
	if maxLeaf >= 7 {
		_, b7, _, _ := cpuid(7, 0)
		haveAVX2 = osAVX && b7&(1<<5) != 0
		haveSHANI = b7&(1<<29) != 0 && ssse3 && sse41 && osAVX && haveAESNI
	}
}
