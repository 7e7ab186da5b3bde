package fernet

import "encoding/binary"

// Tokens are padded base64url, which every Seal and Open encodes or
// decodes whole; encoding/base64 does it a byte at a time, and skips the
// CR and LF a token must not contain. This codec produces and accepts
// exactly what base64.URLEncoding.Strict() does, except that it rejects CR
// and LF, six bytes per step, with AVX2 for the bulk where the CPU has it.
// The tables below are filled once at package initialisation and only
// read.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64Pairs maps 12 bits to their two output characters, first character
// in the low byte, so that six input bytes become one 64-bit store.
var b64Pairs = func() (t [4096]uint16) {
	for v := range t {
		t[v] = uint16(b64Alphabet[v>>6]) | uint16(b64Alphabet[v&63])<<8
	}
	return t
}()

// b64Values maps a character to its 6-bit value, or 0xff if it is not in
// the alphabet ('=' included; padding is handled separately).
var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b64Alphabet); i++ {
		t[b64Alphabet[i]] = byte(i)
	}
	return t
}()

// b64EncodedLen is the padded encoded length of n bytes.
func b64EncodedLen(n int) int { return (n + 2) / 3 * 4 }

// b64Encode writes the padded base64url encoding of src to dst, which must
// hold b64EncodedLen(len(src)) bytes. simd selects the AVX2 bulk encoder
// (only when the CPU has it).
func b64Encode(dst, src []byte, simd bool) {
	if len(src) == 0 {
		return
	}
	_ = dst[b64EncodedLen(len(src))-1]
	if simd {
		n := b64EncodeBulk(dst, src)
		dst, src = dst[n/3*4:], src[n:]
	}
	b64EncodeScalar(dst, src)
}

// b64EncodeScalar is the portable encoder; b64EncodeBulk may first handle
// a prefix of the input with SIMD.
func b64EncodeScalar(dst, src []byte) {
	p := &b64Pairs
	// Six input bytes per step, read as a big-endian word of which the top
	// 48 bits are used; stop while eight bytes remain readable.
	for len(src) >= 8 && len(dst) >= 8 {
		v := binary.BigEndian.Uint64(src)
		out := uint64(p[v>>52]) | uint64(p[v>>40&0xfff])<<16 |
			uint64(p[v>>28&0xfff])<<32 | uint64(p[v>>16&0xfff])<<48
		binary.LittleEndian.PutUint64(dst, out)
		src, dst = src[6:], dst[8:]
	}
	for len(src) >= 3 && len(dst) >= 4 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		binary.LittleEndian.PutUint32(dst, uint32(p[v>>12&0xfff])|uint32(p[v&0xfff])<<16)
		src, dst = src[3:], dst[4:]
	}
	switch len(src) {
	case 1:
		v := uint(src[0])
		dst[0], dst[1], dst[2], dst[3] = b64Alphabet[v>>2], b64Alphabet[v<<4&63], '=', '='
	case 2:
		v := uint(src[0])<<8 | uint(src[1])
		dst[0], dst[1], dst[2], dst[3] = b64Alphabet[v>>10], b64Alphabet[v>>4&63], b64Alphabet[v<<2&63], '='
	}
}

// b64Decode decodes padded base64url src into dst, which must hold
// len(src)/4*3 bytes, and returns the number of bytes written. ok is false
// unless src is exactly a Strict() encoding with no line breaks; dst is
// then undefined. simd selects the AVX2 bulk decoder (only when the CPU
// has it).
func b64Decode(dst, src []byte, simd bool) (n int, ok bool) {
	if len(src)%4 != 0 {
		return 0, false
	}
	if len(src) == 0 {
		return 0, true
	}
	_ = dst[len(src)/4*3-1]
	// The bulk decoder never sees the last quantum, which may be padded.
	m := 0
	if simd {
		m = b64DecodeBulk(dst, src[:len(src)-4])
		if m < 0 {
			return 0, false
		}
	}
	n, ok = b64DecodeScalar(dst[m/4*3:], src[m:])
	return m/4*3 + n, ok
}

// b64DecodeScalar is the portable decoder for non-empty src with
// len(src)%4 == 0; b64DecodeBulk may first handle a prefix with SIMD.
func b64DecodeScalar(dst, src []byte) (n int, ok bool) {
	last := src[len(src)-4:]
	n, ok = b64DecodeQuanta(dst, src[:len(src)-4])
	if !ok {
		return 0, false
	}
	dst = dst[n:]
	t := &b64Values
	a, b := t[last[0]], t[last[1]]
	switch {
	case last[3] != '=':
		c, d := t[last[2]], t[last[3]]
		if (a|b|c|d)&0xc0 != 0 {
			return 0, false
		}
		v := uint(a)<<18 | uint(b)<<12 | uint(c)<<6 | uint(d)
		dst[0], dst[1], dst[2] = byte(v>>16), byte(v>>8), byte(v)
		return n + 3, true
	case last[2] != '=':
		// Strict: the bits below the last output byte must be zero.
		c := t[last[2]]
		if (a|b|c)&0xc0 != 0 || c&3 != 0 {
			return 0, false
		}
		v := uint(a)<<18 | uint(b)<<12 | uint(c)<<6
		dst[0], dst[1] = byte(v>>16), byte(v>>8)
		return n + 2, true
	default:
		if (a|b)&0xc0 != 0 || b&15 != 0 {
			return 0, false
		}
		dst[0] = a<<2 | b>>4
		return n + 1, true
	}
}

// b64DecodeQuanta decodes unpadded full quanta (len(src)%4 == 0).
func b64DecodeQuanta(dst, src []byte) (n int, ok bool) {
	t := &b64Values
	var bad byte
	// Eight characters to six bytes per step with one 64-bit store; keep
	// the loop off the last eight output bytes so the store stays in dst.
	for len(src) >= 8 && len(dst) >= 8 {
		s := src[:8]
		c0, c1, c2, c3 := t[s[0]], t[s[1]], t[s[2]], t[s[3]]
		c4, c5, c6, c7 := t[s[4]], t[s[5]], t[s[6]], t[s[7]]
		bad |= c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7
		v := uint64(c0)<<58 | uint64(c1)<<52 | uint64(c2)<<46 | uint64(c3)<<40 |
			uint64(c4)<<34 | uint64(c5)<<28 | uint64(c6)<<22 | uint64(c7)<<16
		binary.BigEndian.PutUint64(dst, v)
		src, dst = src[8:], dst[6:]
		n += 6
	}
	for len(src) >= 4 && len(dst) >= 3 {
		c0, c1, c2, c3 := t[src[0]], t[src[1]], t[src[2]], t[src[3]]
		bad |= c0 | c1 | c2 | c3
		v := uint(c0)<<18 | uint(c1)<<12 | uint(c2)<<6 | uint(c3)
		dst[0], dst[1], dst[2] = byte(v>>16), byte(v>>8), byte(v)
		src, dst = src[4:], dst[3:]
		n += 3
	}
	return n, bad&0xc0 == 0 && len(src) == 0
}
