package fernet

import (
	"bytes"
	"crypto/aes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestKnownAnswerToken checks the known answer itself against the
// standard-library reference, and that every path gives it.
func TestKnownAnswerToken(t *testing.T) {
	key, iv, plain := katInputs()
	if got := refSeal(key, plain, katTS, iv); got != katToken {
		t.Fatalf("reference token of the known-answer inputs:\n%s\nwant katToken\n%s", got, katToken)
	}
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		if err := knownAnswer(f); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSelectCPU checks the switches and the fallback on a failed
// known-answer check, on a pretend CPU with every feature.
func TestSelectCPU(t *testing.T) {
	all := cpuFeatures{aesni: true, avx2: true}
	pass := func(cpuFeatures) error { return nil }
	for _, c := range []struct {
		hw             cpuFeatures
		godebug, noasm string
		want           cpuFeatures
	}{
		{all, "", "", all},
		{all, "", "1", cpuFeatures{}},
		{all, "", "0", all},
		{all, "cpu.aes=off", "", cpuFeatures{avx2: true}},
		{all, "cpu.avx2=off", "", cpuFeatures{aesni: true}},
		{all, "madvdontneed=1,cpu.aes=off,cpu.avx2=off", "", cpuFeatures{}},
		{all, "cpu.all=off", "", cpuFeatures{}},
		{all, "cpu.all=off,cpu.avx2=on", "", cpuFeatures{avx2: true}},
		{all, "cpu.aes=off,cpu.aes=on", "", all},
		{all, "cpu.aes=maybe,cpu.avx2", "", all},
		{all, "cpu.sha=off", "", all},
		{cpuFeatures{}, "cpu.aes=on,cpu.avx2=on", "", cpuFeatures{}},
		{cpuFeatures{aesni: true}, "cpu.all=on", "", cpuFeatures{aesni: true}},
	} {
		if got, err := selectCPU(c.hw, c.godebug, c.noasm, pass); got != c.want || err != nil {
			t.Errorf("hw %s, GODEBUG %q, FERNETFS_NOASM %q: %s, %v; want %s", c.hw, c.godebug, c.noasm, got, err, c.want)
		}
	}
	fail := func(cpuFeatures) error { return errors.New("Seal gives another token") }
	got, err := selectCPU(all, "", "", fail)
	if got != (cpuFeatures{}) {
		t.Errorf("failed known-answer check: uses %s, want portable", got)
	}
	if err == nil || !strings.Contains(err.Error(), "known-answer") || !strings.Contains(err.Error(), "another token") {
		t.Errorf("failed known-answer check: error %v", err)
	}
	if err := SelfTest(); err != nil && os.Getenv("CI") != "" {
		t.Errorf("CI: this machine's assembly fails its known-answer test: %v", err)
	}
}

// TestSealOpenEveryLength compares Seal and Open with the reference for
// every plaintext length from 0 to 5000 on every path, and checks that a
// flipped bit and a token with a valid MAC but bad padding are rejected
// with dst (and its spare capacity) left as it was.
func TestSealOpenEveryLength(t *testing.T) {
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		rng := rand.New(rand.NewPCG(5, 6))
		prefix := []byte("prefix")
		for _, n := range lengthsToTest(5000) {
			raw32, iv, plain := randBytes(rng, 32), randBytes(rng, 16), randBytes(rng, n)
			ts := rng.Uint64()
			k, err := newKey(raw32, f)
			if err != nil {
				t.Fatal(err)
			}
			c := k.NewCodec()
			want := refSeal(raw32, plain, ts, iv)
			if TokenLen(n) != len(want) {
				t.Fatalf("len %d: TokenLen %d, token %d", n, TokenLen(n), len(want))
			}
			if got := c.Seal(bytes.Clone(prefix), plain, ts, iv); string(got) != string(prefix)+want {
				t.Fatalf("len %d: Seal differs from the reference", n)
			}
			dst := make([]byte, len(prefix), len(prefix)+n+BlockSize)
			copy(dst, prefix)
			pt, gotTS, err := c.Open(dst, []byte(want))
			if err != nil || gotTS != ts || !bytes.Equal(pt, append(bytes.Clone(prefix), plain...)) || &pt[0] != &dst[0] {
				t.Fatalf("len %d: Open(reference token) = %v, ts %d", n, err, gotTS)
			}

			// A flipped bit anywhere in the decoded token.
			tampered, _ := base64.URLEncoding.DecodeString(want)
			tampered[rng.IntN(len(tampered))] ^= 1 << rng.IntN(8)
			expectRejected(t, c, fmt.Sprintf("len %d, flipped bit", n), base64.URLEncoding.EncodeToString(tampered))

			// A valid MAC over bad padding (only the key holder can make it).
			padded := pkcs7(plain)
			last := len(padded) - 1
			switch p := int(padded[last]); {
			case n%3 == 0:
				padded[last] = 0
			case n%3 == 1:
				padded[last] = byte(17 + n%239)
			case p > 1:
				padded[last-p+1+rng.IntN(p-1)] ^= 1 << rng.IntN(8) // one pad byte wrong
			default:
				padded[last], padded[last-1] = 2, 3
			}
			bad := refSealPadded(raw32, padded, ts, iv)
			if _, _, ok := refOpen(raw32, bad); ok {
				t.Fatalf("len %d: the reference accepts the bad-padding token", n)
			}
			expectRejected(t, c, fmt.Sprintf("len %d, bad padding %x", n, padded[len(padded)-aes.BlockSize:]), bad)
		}
	})
}

// lengthsToTest is every length from 0 to max, or under -race (see
// race_on_test.go) every length up to 300 (every tail of every loop of
// the assembly) and every 97th after that, with max.
func lengthsToTest(max int) []int {
	var out []int
	for n := 0; n <= max; n++ {
		if !raceEnabled || n <= 300 || n%97 == 0 || n == max {
			out = append(out, n)
		}
	}
	return out
}

// expectRejected checks that Open rejects tok with ErrBadToken, returns
// dst unchanged and leaves no plaintext in dst's spare capacity.
func expectRejected(t *testing.T, c *Codec, what, tok string) {
	t.Helper()
	dst := make([]byte, 3, len(tok))
	out, _, err := c.Open(dst, []byte(tok))
	if !errors.Is(err, ErrBadToken) || len(out) != 3 || &out[0] != &dst[0] {
		t.Fatalf("%s: Open = %v, %d bytes", what, err, len(out))
	}
	if !bytes.Equal(dst[:cap(dst)], make([]byte, cap(dst))) {
		t.Fatalf("%s: plaintext left in dst's spare capacity", what)
	}
}

// Every character position of a token, in the SIMD part and the final
// quantum alike, must reject both a character outside the alphabet and a
// different alphabet character, on every path.
func TestOpenCorruptCharacters(t *testing.T) {
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		k, _ := newKey(bytes.Repeat([]byte{3}, 32), f)
		c := k.NewCodec()
		for _, size := range []int{0, 200, 4096} {
			tok := c.Seal(nil, make([]byte, size), 1, nil)
			step := 1
			if raceEnabled {
				step = 7
			}
			for i := 0; i < len(tok); i += step {
				for _, ch := range []byte{'=', '\n', tok[i] ^ 1} {
					if ch == tok[i] {
						continue
					}
					bad := bytes.Clone(tok)
					bad[i] = ch
					if _, _, err := c.Open(nil, bad); !errors.Is(err, ErrBadToken) {
						t.Fatalf("size %d: %q at %d: %v", size, ch, i, err)
					}
				}
			}
		}
	})
}

// checkErrorClass holds what Open's error on path p says beyond
// ErrBadToken to the reference: the key-free checks (decodeForm,
// CheckForm) fail exactly when refForm does, and Open fails with
// ErrMACMismatch exactly when the token has the form but not the MAC.
func checkErrorClass(t *testing.T, p cpuFeatures, raw32, tok []byte, openErr error) {
	t.Helper()
	raw, form := refForm(string(tok))
	_, err := decodeForm(make([]byte, len(tok)/4*3), tok, p.avx2)
	if (err == nil) != form || (err != nil && !errors.Is(err, ErrBadToken)) {
		t.Fatalf("%s: decodeForm error %v, reference form: %v", p, err, form)
	}
	if err := CheckForm(tok); (err == nil) != form {
		t.Fatalf("CheckForm error %v, reference form: %v", err, form)
	}
	if mismatch := form && !refMAC(raw32, raw); errors.Is(openErr, ErrMACMismatch) != mismatch {
		t.Fatalf("%s: Open error %v, reference MAC mismatch: %v", p, openErr, mismatch)
	}
}

// TestCheckForm: CheckForm accepts every token Seal makes and rejects
// each way a token can be malformed; Open tells a token under another
// key (ErrMACMismatch) from one with a valid MAC and bad padding.
func TestCheckForm(t *testing.T) {
	raw32 := bytes.Repeat([]byte{5}, 32)
	iv := bytes.Repeat([]byte{6}, 16)
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		k, _ := newKey(raw32, f)
		c := k.NewCodec()
		for n := 0; n < 70; n++ {
			tok := c.Seal(nil, make([]byte, n), uint64(n), nil)
			checkErrorClass(t, f, raw32, tok, nil)
		}
		good := c.Seal(nil, make([]byte, 32), 1, iv)
		raw, _ := base64.URLEncoding.DecodeString(string(good))
		enc := func(b []byte) []byte { return []byte(base64.URLEncoding.EncodeToString(b)) }
		set := func(i int, ch byte) []byte { b := bytes.Clone(good); b[i] = ch; return b }
		// padBits sets the lowest bit of the last character before the
		// "==" of a 73-byte token: the same bytes to a lenient decoder.
		padBits := func(tok []byte) []byte {
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			b := bytes.Clone(tok)
			b[len(b)-3] = alphabet[strings.IndexByte(alphabet, b[len(b)-3])|1]
			return b
		}
		version := bytes.Clone(raw)
		version[0] = 0x81
		malformed := map[string][]byte{
			"empty":               nil,
			"standard alphabet +": set(20, '+'),
			"standard alphabet /": set(20, '/'),
			"padding inside":      set(20, '='),
			"pad bits":            padBits(c.Seal(nil, nil, 1, iv)),
			"version byte":        enc(version),
			"all A":               bytes.Repeat([]byte("A"), len(good)),
			"103 bytes":           enc(raw[:103]),
			"short block":         enc(raw[:len(raw)-1]),
			"72 bytes":            enc(raw[:72]),
			"CR LF":               append(append(bytes.Clone(good[:len(good)-4]), '\r', '\n'), good[len(good)-2:]...),
			"not a multiple of 4": good[:len(good)-1],
		}
		for name, tok := range malformed {
			_, _, err := c.Open(nil, tok)
			if CheckForm(tok) == nil || errors.Is(err, ErrMACMismatch) || !errors.Is(err, ErrBadToken) {
				t.Errorf("%s: CheckForm %v, Open %v", name, CheckForm(tok), err)
			}
			checkErrorClass(t, f, raw32, tok, err)
		}
		other := bytes.Repeat([]byte{9}, 32)
		ok, _ := newKey(other, f)
		if _, _, err := ok.NewCodec().Open(nil, good); !errors.Is(err, ErrMACMismatch) {
			t.Errorf("token under another key: %v", err)
		}
		badPad := []byte(refSealPadded(raw32, bytes.Repeat([]byte{17}, 48), 1, iv))
		_, _, err := c.Open(nil, badPad)
		if CheckForm(badPad) != nil || err == nil || errors.Is(err, ErrMACMismatch) {
			t.Errorf("valid MAC, bad padding: CheckForm %v, Open %v", CheckForm(badPad), err)
		}
		checkErrorClass(t, f, raw32, badPad, err)
	})
}

// FuzzSealOpen chooses key, IV, timestamp and plaintext, and compares
// Seal and Open on every path with the reference. mode picks the token
// Open gets: 0 the sealed one, 1 that one with bit pos flipped, 2 one
// with a valid MAC whose padded plaintext is plain itself (zero-filled to
// a whole block), so that the fuzzer explores padding.
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("key"), []byte("iv"), []byte("plaintext"), uint64(1), uint8(0), uint16(0))
	f.Add([]byte{}, []byte{}, []byte{}, uint64(0), uint8(1), uint16(3))
	f.Add(bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte("fernetfs"), 100), uint64(7), uint8(1), uint16(500))
	f.Add(bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{1}, 16), append(bytes.Repeat([]byte("x"), 28), 4, 4, 4, 4), uint64(7), uint8(2), uint16(0))
	f.Add(bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{1}, 16), append(bytes.Repeat([]byte("x"), 28), 4, 4, 5, 4), uint64(7), uint8(2), uint16(0))
	paths := availablePaths()
	f.Fuzz(func(t *testing.T, key, iv, plain []byte, ts uint64, mode uint8, pos uint16) {
		raw32 := append(bytes.Clone(key), make([]byte, 32)...)[:32]
		iv = append(bytes.Clone(iv), make([]byte, 16)...)[:16]
		var tok string
		switch mode % 3 {
		case 0, 1:
			tok = refSeal(raw32, plain, ts, iv)
			if mode%3 == 1 {
				raw, _ := base64.URLEncoding.DecodeString(tok)
				raw[int(pos/8)%len(raw)] ^= 1 << (pos % 8)
				tok = base64.URLEncoding.EncodeToString(raw)
			}
		case 2:
			padded := append(bytes.Clone(plain), make([]byte, BlockSize-len(plain)%BlockSize)...)
			if len(plain)%BlockSize == 0 && len(plain) > 0 {
				padded = padded[:len(plain)]
			}
			tok = refSealPadded(raw32, padded, ts, iv)
		}
		wantPT, wantTS, wantOK := refOpen(raw32, tok)
		for _, p := range paths {
			k, err := newKey(raw32, p)
			if err != nil {
				t.Fatal(err)
			}
			c := k.NewCodec()
			if mode%3 == 0 {
				if got := c.Seal(nil, plain, ts, iv); string(got) != tok {
					t.Fatalf("%s: Seal differs from the reference", p)
				}
			}
			pt, gotTS, err := c.Open(nil, []byte(tok))
			if (err == nil) != wantOK || (err != nil && !errors.Is(err, ErrBadToken)) {
				t.Fatalf("%s: Open error %v, reference accepts: %v", p, err, wantOK)
			}
			checkErrorClass(t, p, raw32, []byte(tok), err)
			if wantOK && (!bytes.Equal(pt, wantPT) || gotTS != wantTS) {
				t.Fatalf("%s: Open differs from the reference", p)
			}
		}
	})
}

// FuzzOpenToken opens arbitrary bytes on every path and compares the
// result with the reference; anything accepted must be the canonical
// token of its plaintext.
func FuzzOpenToken(f *testing.F) {
	raw32 := bytes.Repeat([]byte{7}, 32)
	k, _ := NewKey(raw32)
	c := k.NewCodec()
	f.Add(c.Seal(nil, []byte("seed"), 1, nil))
	f.Add(c.Seal(nil, nil, 0, nil))
	f.Add(c.Seal(nil, bytes.Repeat([]byte("fernetfs"), 100), 2, nil))
	f.Add([]byte("gAAAAA=="))
	paths := availablePaths()
	f.Fuzz(func(t *testing.T, tok []byte) {
		wantPT, wantTS, wantOK := refOpen(raw32, string(tok))
		for _, p := range paths {
			k, _ := newKey(raw32, p)
			c := k.NewCodec()
			pt, ts, err := c.Open(nil, tok)
			if (err == nil) != wantOK || (err != nil && !errors.Is(err, ErrBadToken)) {
				t.Fatalf("%s: Open error %v, reference accepts: %v", p, err, wantOK)
			}
			checkErrorClass(t, p, raw32, tok, err)
			if !wantOK {
				continue
			}
			if !bytes.Equal(pt, wantPT) || ts != wantTS {
				t.Fatalf("%s: Open differs from the reference", p)
			}
			raw, _ := base64.URLEncoding.DecodeString(string(tok))
			if again := c.Seal(nil, pt, ts, raw[9:25]); !bytes.Equal(again, tok) {
				t.Fatalf("%s: accepted token is not canonical", p)
			}
		}
	})
}
