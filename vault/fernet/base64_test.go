package fernet

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

var stdB64 = base64.URLEncoding.Strict()

// b64Impl is one of the codecs under test: the AVX2 bulk path and the
// portable one it falls back to.
type b64Impl struct {
	name   string
	encode func(dst, src []byte)
	decode func(dst, src []byte) (int, bool)
}

func b64ImplFor(simd bool) b64Impl {
	name := "scalar"
	if simd {
		name = "avx2"
	}
	return b64Impl{name, func(dst, src []byte) { b64Encode(dst, src, simd) },
		func(dst, src []byte) (int, bool) { return b64Decode(dst, src, simd) }}
}

// b64Impls is the implementations this CPU and build can run, for fuzz
// targets; tests use forEachB64, which says what it skips.
func b64Impls() []b64Impl {
	out := []b64Impl{b64ImplFor(false)}
	if hasPath(cpuFeatures{avx2: true}) {
		out = append(out, b64ImplFor(true))
	}
	return out
}

// forEachB64 runs fn on each implementation as a subtest; see forEachPath.
func forEachB64(t *testing.T, fn func(t *testing.T, impl b64Impl)) {
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		if f.aesni {
			t.Skip("base64 does not depend on AES-NI: same as the path without it")
		}
		fn(t, b64ImplFor(f.avx2))
	})
}

// decodeRef is what Open accepts: the stdlib's strict decoding, except
// that CR and LF (which the stdlib skips) are errors.
func decodeRef(src []byte) ([]byte, bool) {
	if bytes.ContainsAny(src, "\r\n") {
		return nil, false
	}
	out := make([]byte, stdB64.DecodedLen(len(src)))
	n, err := stdB64.Decode(out, src)
	return out[:n], err == nil
}

func checkDecode(t *testing.T, impl b64Impl, src []byte) {
	t.Helper()
	want, wantOK := decodeRef(src)
	// Guard bytes after the destination catch out-of-bounds stores.
	buf := make([]byte, len(src)/4*3+64)
	for i := range buf {
		buf[i] = 0xa5
	}
	dst := buf[: len(src)/4*3 : len(src)/4*3]
	n, ok := impl.decode(dst, src)
	if ok != wantOK {
		t.Fatalf("%s: decode(%q) ok=%v, stdlib ok=%v", impl.name, src, ok, wantOK)
	}
	if ok && !bytes.Equal(dst[:n], want) {
		t.Fatalf("%s: decode(%q) = %x, stdlib %x", impl.name, src, dst[:n], want)
	}
	for _, b := range buf[len(dst):] {
		if b != 0xa5 {
			t.Fatalf("%s: decode(%q) wrote past dst", impl.name, src)
		}
	}
}

func TestBase64MatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 23, 24, 25, 27, 28, 29, 31, 32, 33, 47, 48, 49, 73, 89, 4153}
	random := 400
	if raceEnabled {
		random = 40 // see race_on_test.go
	}
	for i := 0; i < random; i++ {
		sizes = append(sizes, rng.IntN(9001))
	}
	forEachB64(t, func(t *testing.T, impl b64Impl) {
		for _, n := range sizes {
			src := make([]byte, n)
			fillRand(rng, src)
			want := stdB64.EncodeToString(src)
			buf := bytes.Repeat([]byte{0xa5}, len(want)+64)
			impl.encode(buf[:len(want):len(want)], src)
			if string(buf[:len(want)]) != want {
				t.Fatalf("%s: encode len %d differs from stdlib", impl.name, n)
			}
			if len(want) != b64EncodedLen(n) {
				t.Fatalf("b64EncodedLen(%d) = %d, want %d", n, b64EncodedLen(n), len(want))
			}
			for _, b := range buf[len(want):] {
				if b != 0xa5 {
					t.Fatalf("%s: encode len %d wrote past dst", impl.name, n)
				}
			}
			checkDecode(t, impl, []byte(want))
			if n == 0 {
				continue
			}
			// Corrupt one character anywhere, including in the SIMD part,
			// with characters around the alphabet's range boundaries.
			for _, c := range []byte("=\n\r+/.,@[`{~\x00\x7f\x80\xff ") {
				bad := []byte(want)
				bad[rng.IntN(len(bad))] = c
				checkDecode(t, impl, bad)
			}
			// Non-zero trailing bits before padding.
			if m := n % 3; m != 0 {
				bad := []byte(want)
				i := len(bad) - 4 + m
				bad[i] = b64Alphabet[(bytes.IndexByte([]byte(b64Alphabet), bad[i])+1)%64]
				checkDecode(t, impl, bad)
			}
		}
	})
}

// Every byte value in every position of a block long enough for the SIMD
// decoder must be classified exactly as the stdlib classifies it.
func TestBase64DecodeEveryByte(t *testing.T) {
	base := []byte(stdB64.EncodeToString(bytes.Repeat([]byte{0x5a, 0xc3, 0x17}, 24)))
	forEachB64(t, func(t *testing.T, impl b64Impl) {
		for pos := 0; pos < 40; pos++ {
			for c := 0; c < 256; c++ {
				src := bytes.Clone(base)
				src[pos] = byte(c)
				checkDecode(t, impl, src)
			}
		}
	})
}

func TestBase64DecodeLengths(t *testing.T) {
	forEachB64(t, func(t *testing.T, impl b64Impl) {
		for _, s := range []string{"", "A", "AA", "AAA", "AA=", "====", "A===", "AA==", "AB==", "AAA=", "AAB=", "AAAA", "AA==AAAA", "AAAA====", "AAAAA==="} {
			checkDecode(t, impl, []byte(s))
		}
	})
}

func FuzzBase64Decode(f *testing.F) {
	for _, s := range []string{"", "AA==", "AAA=", "AAAA", "AB==", "gAAAAA==", "a-_b", "a+/b", "AA==AA==", "\nAAAA"} {
		f.Add([]byte(s))
	}
	f.Add([]byte(stdB64.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 50))))
	impls := b64Impls()
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, impl := range impls {
			checkDecode(t, impl, src)
		}
	})
}

func FuzzBase64Encode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("any carnal pleas"))
	f.Add(bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 40))
	impls := b64Impls()
	f.Fuzz(func(t *testing.T, src []byte) {
		want := stdB64.EncodeToString(src)
		for _, impl := range impls {
			dst := make([]byte, b64EncodedLen(len(src)))
			impl.encode(dst, src)
			if string(dst) != want {
				t.Fatalf("%s: encode(%x) = %s, want %s", impl.name, src, dst, want)
			}
		}
	})
}

func BenchmarkBase64Encode4K(b *testing.B) {
	src := make([]byte, rawTokenLen(4096))
	dst := make([]byte, b64EncodedLen(len(src)))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		b64Encode(dst, src, detectCPU().avx2)
	}
}

func BenchmarkBase64Decode4K(b *testing.B) {
	src := []byte(stdB64.EncodeToString(make([]byte, rawTokenLen(4096))))
	dst := make([]byte, len(src)/4*3)
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		if _, ok := b64Decode(dst, src, detectCPU().avx2); !ok {
			b.Fatal("decode failed")
		}
	}
}
