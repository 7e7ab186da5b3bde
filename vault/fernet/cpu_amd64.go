//go:build amd64 && !purego

package fernet

// cpuid executes the CPUID instruction.
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// xgetbv reads extended control register 0 (which register state the OS
// saves on context switch).
func xgetbv() (eax, edx uint32)

// detectCPU reads from CPUID what the CPU and OS support, before any
// switch (see selectCPU):
//   - aesni: AES-NI (CPUID.1:ECX bit 25);
//   - avx2: AVX2 (CPUID.7:EBX bit 5) with YMM state enabled by the OS
//     (OSXSAVE, and XCR0 bits 1 and 2).
func detectCPU() (f cpuFeatures) {
	maxLeaf, _, _, _ := cpuid(0, 0)
	_, _, c1, _ := cpuid(1, 0)
	f.aesni = c1&(1<<25) != 0
	osAVX := c1&(1<<27) != 0 && c1&(1<<28) != 0
	if osAVX {
		xcr0, _ := xgetbv()
		osAVX = xcr0&6 == 6
	}
	if maxLeaf >= 7 {
		_, b7, _, _ := cpuid(7, 0)
		f.avx2 = osAVX && b7&(1<<5) != 0
	}
	return f
}

// asmBuilt tells tests that this build has the assembly.
const asmBuilt = true
