//go:build amd64 && !purego

#include "textflag.h"

// Base64url with AVX2 after Muła and Lemire, "Faster Base64 Encoding and
// Decoding using AVX2 Instructions" (ACM TOW 2018), with the decoder's
// lookup tables rebuilt for the URL alphabet (- and _).

DATA b64EncShuf<>+0(SB)/8, $0x0405030401020001
DATA b64EncShuf<>+8(SB)/8, $0x0a0b090a07080607
DATA b64EncShuf<>+16(SB)/8, $0x0405030401020001
DATA b64EncShuf<>+24(SB)/8, $0x0a0b090a07080607
GLOBL b64EncShuf<>(SB), RODATA|NOPTR, $32

DATA b64EncMaskAC<>+0(SB)/8, $0x0fc0fc000fc0fc00
DATA b64EncMaskAC<>+8(SB)/8, $0x0fc0fc000fc0fc00
DATA b64EncMaskAC<>+16(SB)/8, $0x0fc0fc000fc0fc00
DATA b64EncMaskAC<>+24(SB)/8, $0x0fc0fc000fc0fc00
GLOBL b64EncMaskAC<>(SB), RODATA|NOPTR, $32

DATA b64EncMulAC<>+0(SB)/8, $0x0400004004000040
DATA b64EncMulAC<>+8(SB)/8, $0x0400004004000040
DATA b64EncMulAC<>+16(SB)/8, $0x0400004004000040
DATA b64EncMulAC<>+24(SB)/8, $0x0400004004000040
GLOBL b64EncMulAC<>(SB), RODATA|NOPTR, $32

DATA b64EncMaskBD<>+0(SB)/8, $0x003f03f0003f03f0
DATA b64EncMaskBD<>+8(SB)/8, $0x003f03f0003f03f0
DATA b64EncMaskBD<>+16(SB)/8, $0x003f03f0003f03f0
DATA b64EncMaskBD<>+24(SB)/8, $0x003f03f0003f03f0
GLOBL b64EncMaskBD<>(SB), RODATA|NOPTR, $32

DATA b64EncMulBD<>+0(SB)/8, $0x0100001001000010
DATA b64EncMulBD<>+8(SB)/8, $0x0100001001000010
DATA b64EncMulBD<>+16(SB)/8, $0x0100001001000010
DATA b64EncMulBD<>+24(SB)/8, $0x0100001001000010
GLOBL b64EncMulBD<>(SB), RODATA|NOPTR, $32

DATA b64Enc51<>+0(SB)/8, $0x3333333333333333
DATA b64Enc51<>+8(SB)/8, $0x3333333333333333
DATA b64Enc51<>+16(SB)/8, $0x3333333333333333
DATA b64Enc51<>+24(SB)/8, $0x3333333333333333
GLOBL b64Enc51<>(SB), RODATA|NOPTR, $32

DATA b64Enc26<>+0(SB)/8, $0x1a1a1a1a1a1a1a1a
DATA b64Enc26<>+8(SB)/8, $0x1a1a1a1a1a1a1a1a
DATA b64Enc26<>+16(SB)/8, $0x1a1a1a1a1a1a1a1a
DATA b64Enc26<>+24(SB)/8, $0x1a1a1a1a1a1a1a1a
GLOBL b64Enc26<>(SB), RODATA|NOPTR, $32

DATA b64Enc13<>+0(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA b64Enc13<>+8(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA b64Enc13<>+16(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA b64Enc13<>+24(SB)/8, $0x0d0d0d0d0d0d0d0d
GLOBL b64Enc13<>(SB), RODATA|NOPTR, $32

DATA b64EncLUT<>+0(SB)/8, $0xfcfcfcfcfcfcfc47
DATA b64EncLUT<>+8(SB)/8, $0x00004120effcfcfc
DATA b64EncLUT<>+16(SB)/8, $0xfcfcfcfcfcfcfc47
DATA b64EncLUT<>+24(SB)/8, $0x00004120effcfcfc
GLOBL b64EncLUT<>(SB), RODATA|NOPTR, $32

DATA b64Nibble<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b64Nibble<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b64Nibble<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b64Nibble<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL b64Nibble<>(SB), RODATA|NOPTR, $32

DATA b64DecLo<>+0(SB)/8, $0x030303030303030b
DATA b64DecLo<>+8(SB)/8, $0x2717151717070303
DATA b64DecLo<>+16(SB)/8, $0x030303030303030b
DATA b64DecLo<>+24(SB)/8, $0x2717151717070303
GLOBL b64DecLo<>(SB), RODATA|NOPTR, $32

DATA b64DecHi<>+0(SB)/8, $0x3008100804020101
DATA b64DecHi<>+8(SB)/8, $0x0101010101010101
DATA b64DecHi<>+16(SB)/8, $0x3008100804020101
DATA b64DecHi<>+24(SB)/8, $0x0101010101010101
GLOBL b64DecHi<>(SB), RODATA|NOPTR, $32

DATA b64DecRoll<>+0(SB)/8, $0xb9b9bfbf04110000
DATA b64DecRoll<>+8(SB)/8, $0x0000000000000000
DATA b64DecRoll<>+16(SB)/8, $0xb9b9bfbf04110000
DATA b64DecRoll<>+24(SB)/8, $0x0000000000000000
GLOBL b64DecRoll<>(SB), RODATA|NOPTR, $32

DATA b64Underscore<>+0(SB)/8, $0x5f5f5f5f5f5f5f5f
DATA b64Underscore<>+8(SB)/8, $0x5f5f5f5f5f5f5f5f
DATA b64Underscore<>+16(SB)/8, $0x5f5f5f5f5f5f5f5f
DATA b64Underscore<>+24(SB)/8, $0x5f5f5f5f5f5f5f5f
GLOBL b64Underscore<>(SB), RODATA|NOPTR, $32

DATA b64Dec33<>+0(SB)/8, $0x2121212121212121
DATA b64Dec33<>+8(SB)/8, $0x2121212121212121
DATA b64Dec33<>+16(SB)/8, $0x2121212121212121
DATA b64Dec33<>+24(SB)/8, $0x2121212121212121
GLOBL b64Dec33<>(SB), RODATA|NOPTR, $32

DATA b64DecMergeAB<>+0(SB)/8, $0x0140014001400140
DATA b64DecMergeAB<>+8(SB)/8, $0x0140014001400140
DATA b64DecMergeAB<>+16(SB)/8, $0x0140014001400140
DATA b64DecMergeAB<>+24(SB)/8, $0x0140014001400140
GLOBL b64DecMergeAB<>(SB), RODATA|NOPTR, $32

DATA b64DecMergeABC<>+0(SB)/8, $0x0001100000011000
DATA b64DecMergeABC<>+8(SB)/8, $0x0001100000011000
DATA b64DecMergeABC<>+16(SB)/8, $0x0001100000011000
DATA b64DecMergeABC<>+24(SB)/8, $0x0001100000011000
GLOBL b64DecMergeABC<>(SB), RODATA|NOPTR, $32

DATA b64DecPack<>+0(SB)/8, $0x090a040506000102
DATA b64DecPack<>+8(SB)/8, $0x808080800c0d0e08
DATA b64DecPack<>+16(SB)/8, $0x090a040506000102
DATA b64DecPack<>+24(SB)/8, $0x808080800c0d0e08
GLOBL b64DecPack<>(SB), RODATA|NOPTR, $32

DATA b64DecPerm<>+0(SB)/8, $0x0000000100000000
DATA b64DecPerm<>+8(SB)/8, $0x0000000400000002
DATA b64DecPerm<>+16(SB)/8, $0x0000000600000005
DATA b64DecPerm<>+24(SB)/8, $0x0000000700000003
GLOBL b64DecPerm<>(SB), RODATA|NOPTR, $32

// func b64EncAVX2(dst, src *byte, n int) int
// Encodes 24 bytes into 32 characters per iteration while 28 bytes are
// readable (each iteration loads src[0:16] and src[12:28]); returns the
// number of source bytes consumed, a multiple of 24.
TEXT ·b64EncAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	CMPQ CX, $28
	JB encret
	VMOVDQU b64EncShuf<>(SB), Y8
	VMOVDQU b64EncMaskAC<>(SB), Y9
	VMOVDQU b64EncMulAC<>(SB), Y10
	VMOVDQU b64EncMaskBD<>(SB), Y11
	VMOVDQU b64EncMulBD<>(SB), Y12
	VMOVDQU b64Enc51<>(SB), Y13
	VMOVDQU b64Enc26<>(SB), Y14
	VMOVDQU b64Enc13<>(SB), Y15
	VMOVDQU b64EncLUT<>(SB), Y7
encloop:
	VMOVDQU (SI), X0
	VINSERTI128 $1, 12(SI), Y0, Y0
	VPSHUFB Y8, Y0, Y0
	VPAND Y9, Y0, Y1
	VPMULHUW Y10, Y1, Y1
	VPAND Y11, Y0, Y2
	VPMULLW Y12, Y2, Y2
	VPOR Y1, Y2, Y0
	// Y0 holds 6-bit indices; map them to ASCII by range offsets.
	VPSUBUSB Y13, Y0, Y1
	VPCMPGTB Y0, Y14, Y2
	VPAND Y15, Y2, Y2
	VPOR Y2, Y1, Y1
	VPSHUFB Y1, Y7, Y1
	VPADDB Y1, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $24, SI
	ADDQ $32, DI
	ADDQ $24, AX
	SUBQ $24, CX
	CMPQ CX, $28
	JAE encloop
	VZEROUPPER
encret:
	MOVQ AX, ret+24(FP)
	RET

// func b64DecAVX2(dst *byte, dlen int, src *byte, slen int) int
// Decodes 32 characters into 24 bytes per iteration (storing 32, so it
// runs only while 32 bytes of dst remain). Returns the number of source
// characters consumed, a multiple of 32, or -1 if any of them is outside
// the base64url alphabet.
TEXT ·b64DecAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dlen+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ slen+24(FP), CX
	XORQ AX, AX
	CMPQ CX, $32
	JB decret
	CMPQ DX, $32
	JB decret
	VMOVDQU b64Nibble<>(SB), Y15
	VMOVDQU b64DecLo<>(SB), Y14
	VMOVDQU b64DecHi<>(SB), Y13
	VMOVDQU b64DecRoll<>(SB), Y12
	VMOVDQU b64Underscore<>(SB), Y11
	VMOVDQU b64Dec33<>(SB), Y10
	VMOVDQU b64DecMergeAB<>(SB), Y9
	VMOVDQU b64DecMergeABC<>(SB), Y8
	VMOVDQU b64DecPack<>(SB), Y7
	VMOVDQU b64DecPerm<>(SB), Y6
	VPXOR Y5, Y5, Y5
decloop:
	VMOVDQU (SI), Y0
	VPSRLD $4, Y0, Y1
	VPAND Y15, Y1, Y1
	VPAND Y15, Y0, Y2
	// A character is valid iff its low- and high-nibble classes share no bit.
	VPSHUFB Y2, Y14, Y2
	VPSHUFB Y1, Y13, Y3
	VPAND Y2, Y3, Y3
	VPOR Y3, Y5, Y5
	// value = char + roll[high nibble], plus 33 more for _ (0x5f).
	VPCMPEQB Y11, Y0, Y2
	VPAND Y10, Y2, Y2
	VPSHUFB Y1, Y12, Y1
	VPADDB Y1, Y0, Y0
	VPADDB Y2, Y0, Y0
	// Pack four 6-bit values per dword into three bytes, then the lanes.
	VPMADDUBSW Y9, Y0, Y0
	VPMADDWD Y8, Y0, Y0
	VPSHUFB Y7, Y0, Y0
	VPERMD Y0, Y6, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $24, DI
	ADDQ $32, AX
	SUBQ $32, CX
	SUBQ $24, DX
	CMPQ CX, $32
	JB decend
	CMPQ DX, $32
	JAE decloop
decend:
	VPTEST Y5, Y5
	VZEROUPPER
	JNZ decbad
decret:
	MOVQ AX, ret+32(FP)
	RET
decbad:
	MOVQ $-1, ret+32(FP)
	RET
