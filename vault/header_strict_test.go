package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// frozenHeader is the header of the frozen vault in testdata.
func frozenHeader(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "vault-v1", HeaderName))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// headerCase is one text for fernetfs.json and what ParseHeader must
// make of it: nil (valid), ErrMalformedHeader or ErrUnsupported.
type headerCase struct {
	name string
	text string
	want error
}

// headerCases are the frozen header, forms of it that differ only in
// JSON white space or escapes (valid), and every loose form that
// encoding/json or Python's json module alone would accept (malformed
// or unsupported), with the fuzz seeds of FuzzParseHeader. The Go
// parser (TestParseHeaderStrict) and contrib/recover.py
// (TestPythonRecoveryHeaders) are both checked against this table.
func headerCases(t testing.TB) []headerCase {
	good := frozenHeader(t)
	const salt = `"LET2Yx4HjyHGub9b54gx9wpufsdydRHJ9eJ7iH5jsIs="`
	const mac = `"5ERGI4KhGk9lIP2o/z16qah9vChVgLIGzVkGcOlsHeE="`
	const wrapped = `"gAAAAABrCxykw8ryiMVkOG5zX8xJ_apzfSt8o4GCPJ6cwGa2p54bKg0gbyf8S_CqSgqGRy6iUz3zkB7rz7Tuo0KGrozidMTdZYYh2QRXGLa4QL-2-iAS9iY-gGjyj3fiNK8Z0pMWFRwR"`
	if !strings.Contains(good, salt) || !strings.Contains(good, mac) || !strings.Contains(good, wrapped) {
		t.Fatal("the frozen header changed; update this test")
	}
	edit := func(old, new string) string {
		s := strings.Replace(good, old, new, 1)
		if s == good {
			t.Fatalf("the edit of %q did not apply", old)
		}
		return s
	}
	withCreatedBy := edit(`"mac"`, `"created_by": "fernetfs test",
  "mac"`)
	kdf := good[strings.Index(good, `"kdf": {`):strings.Index(good, `"chunk_size"`)]
	features := `"features": [
    "encrypted-names"
  ]`
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	cases := []headerCase{
		{"frozen", good, nil},
		{"with created_by", withCreatedBy, nil},
		{"no white space around", strings.TrimSpace(good), nil},
		{"CRLF and tabs", "\r\n\t " + strings.ReplaceAll(good, "\n", "\r\n") + " \n\n", nil},
		{"escaped member name", edit(`"format"`, `"\u0066ormat"`), nil},
		{"escaped kdf name", edit(`"pbkdf2-sha256"`, `"pbkdf2\u002dsha256"`), nil},
		{"escaped slash in mac", edit(mac, strings.Replace(mac, "/", `\/`, 1)), nil},
		{"escaped wrapped key", edit(wrapped, `"\u0067`+wrapped[2:]), nil},
		{"negative zero format", edit(`"format": 1`, `"format": -0`), ErrUnsupported},
		{"padded to the limit", good + strings.Repeat(" ", MaxHeaderLen-len(good)), nil},
		{"one byte over the limit", good + strings.Repeat(" ", MaxHeaderLen+1-len(good)), ErrMalformedHeader},

		{"member name in other case", edit(`"chunk_size"`, `"Chunk_Size"`), ErrMalformedHeader},
		{"nested name in other case", edit(`"salt"`, `"SALT"`), ErrMalformedHeader},
		{"object name in other case", edit(`"kdf"`, `"Kdf"`), ErrMalformedHeader},
		{"unknown member", edit("{", `{"extra": 1,`), ErrMalformedHeader},
		{"unknown nested member", edit(`"name"`, `"extra": 1, "name"`), ErrMalformedHeader},
		{"duplicate member", edit(`"chunk_size": 4096`, `"chunk_size": 8192, "chunk_size": 4096`), ErrMalformedHeader},
		{"duplicate member same value", edit(`"format": 1`, `"format": 1, "format": 1`), ErrMalformedHeader},
		{"duplicate by escape", edit(`"format": 1`, `"format": 1, "\u0066ormat": 1`), ErrMalformedHeader},
		{"duplicate nested member", edit(`"iterations": 1000`, `"iterations": 5, "iterations": 1000`), ErrMalformedHeader},
		{"duplicate object", edit(`"chunk_size"`, `"kdf": {"name": "x", "iterations": 1, "salt": ""}, "chunk_size"`), ErrMalformedHeader},
		{"duplicate in case", edit(`"mac"`, `"MAC": "", "mac"`), ErrMalformedHeader},
		{"LF in salt", edit(salt, salt[:20]+`\n`+salt[20:]), ErrMalformedHeader},
		{"CRLF in mac", edit(mac, mac[:20]+`\r\n`+mac[20:]), ErrMalformedHeader},
		{"space in mac", edit(mac, mac[:20]+` `+mac[20:]), ErrMalformedHeader},
		{"pad bits in mac", edit(mac, strings.Replace(mac, "HeE=", "HeF=", 1)), ErrMalformedHeader},
		{"pad bits in salt", edit(salt, strings.Replace(salt, "sIs=", "sIt=", 1)), ErrMalformedHeader},
		{"salt without padding", edit(salt, strings.TrimSuffix(salt, `="`)+`"`), ErrMalformedHeader},
		{"salt of 31 bytes", edit(salt, `"`+strings.Repeat("A", 42)+`=="`), ErrMalformedHeader},
		{"salt of 33 bytes", edit(salt, `"`+strings.Repeat("A", 44)+`"`), ErrMalformedHeader},
		{"empty salt", edit(salt, `""`), ErrMalformedHeader},
		{"mac of 33 bytes", edit(mac, `"`+strings.Repeat("A", 44)+`"`), ErrMalformedHeader},
		{"url alphabet in mac", edit(mac, strings.Replace(mac, "/", "_", 1)), ErrMalformedHeader},
		{"non-ASCII in mac", edit(mac, strings.Replace(mac, "/", `\u00e9`, 1)), ErrMalformedHeader},
		{"trailing brace", good + "}", ErrMalformedHeader},
		{"trailing brace after space", good + "\n}\n", ErrMalformedHeader},
		{"trailing bracket", good + "]", ErrMalformedHeader},
		{"trailing object", good + "{}", ErrMalformedHeader},
		{"trailing text", good + "x", ErrMalformedHeader},
		{"trailing NUL", good + "\x00", ErrMalformedHeader},
		{"trailing form feed", good + "\f", ErrMalformedHeader},
		{"trailing comma", edit(mac+"\n", mac+",\n"), ErrMalformedHeader},
		{"comment", edit("{", "{ // header\n"), ErrMalformedHeader},
		{"byte order mark", "\ufeff" + good, ErrMalformedHeader},
		{"UTF-16", utf16LE(good), ErrMalformedHeader},
		{"invalid UTF-8 in wrapped key", edit(wrapped[:3], `"\xff`), ErrMalformedHeader},
		{"invalid UTF-8 in unknown member", edit("{", "{\"\xc3\": 1,"), ErrMalformedHeader},
		{"raw control character", edit(`"pbkdf2-sha256"`, "\"pbkdf2-sha256\x01\""), ErrMalformedHeader},
		{"null member", edit(`"chunk_size": 4096`, `"chunk_size": null`), ErrMalformedHeader},
		{"null object", edit(kdf, `"kdf": null, `), ErrMalformedHeader},
		{"null feature", edit(`"encrypted-names"`, `"encrypted-names", null`), ErrMalformedHeader},
		{"missing member", edit(`"format": 1,`, ``), ErrMalformedHeader},
		{"missing nested member", edit(`"name": "pbkdf2-sha256",`, ``), ErrMalformedHeader},
		{"empty created_by", edit(`"mac"`, `"created_by": "", "mac"`), ErrMalformedHeader},
		{"duplicate created_by", strings.Replace(withCreatedBy, `"mac"`, `"created_by": "x", "mac"`, 1), ErrMalformedHeader},
		{"created_by in other case", strings.Replace(withCreatedBy, `"created_by"`, `"Created_By"`, 1), ErrMalformedHeader},
		{"null created_by", edit(`"mac"`, `"created_by": null, "mac"`), ErrMalformedHeader},
		{"number created_by", edit(`"mac"`, `"created_by": 7, "mac"`), ErrMalformedHeader},
		{"created_by of 129 bytes", edit(`"mac"`, `"created_by": "`+strings.Repeat("v", MaxCreatedByLen+1)+`", "mac"`), ErrMalformedHeader},
		{"control character in created_by", edit(`"mac"`, `"created_by": "v\u001b[2J", "mac"`), ErrMalformedHeader},
		{"NUL in created_by", edit(`"mac"`, `"created_by": "v\u0000", "mac"`), ErrMalformedHeader},
		{"non-ASCII created_by", edit(`"mac"`, `"created_by": "caf\u00e9", "mac"`), ErrMalformedHeader},
		{"lone surrogate in created_by", edit(`"mac"`, `"created_by": "\ud800", "mac"`), ErrMalformedHeader},
		{"float number", edit(`"format": 1`, `"format": 1.0`), ErrMalformedHeader},
		{"exponent", edit(`"chunk_size": 4096`, `"chunk_size": 4.096e3`), ErrMalformedHeader},
		{"integer exponent", edit(`"format": 1`, `"format": 1e0`), ErrMalformedHeader},
		{"NaN", edit(`"iterations": 1000`, `"iterations": NaN`), ErrMalformedHeader},
		{"Infinity", edit(`"iterations": 1000`, `"iterations": Infinity`), ErrMalformedHeader},
		{"leading zero", edit(`"chunk_size": 4096`, `"chunk_size": 04096`), ErrMalformedHeader},
		{"plus sign", edit(`"format": 1`, `"format": +1`), ErrMalformedHeader},
		{"true as format", edit(`"format": 1`, `"format": true`), ErrMalformedHeader},
		{"string as format", edit(`"format": 1`, `"format": "1"`), ErrMalformedHeader},
		{"string as features", edit(features, `"features": "encrypted-names"`), ErrMalformedHeader},
		{"number as feature", edit(`"encrypted-names"`, `"encrypted-names", 1`), ErrMalformedHeader},
		{"array as kdf", edit(kdf, `"kdf": [], `), ErrMalformedHeader},
		{"number as wrapped key", edit(wrapped, "7"), ErrMalformedHeader},
		{"nested too deeply", edit(features, `"features": `+deep), ErrMalformedHeader},
		{"format 2", edit(`"format": 1`, `"format": 2`), ErrUnsupported},
		{"format overflowing int64", edit(`"format": 1`, `"format": 99999999999999999999`), ErrMalformedHeader},
		{"unknown feature", edit(`"encrypted-names"`, `"encrypted-names", "zzz-new"`), ErrUnsupported},
		{"reverse vault header", edit(`"encrypted-names"`, `"encrypted-names", "reverse"`), ErrUnsupported},
		{"no names feature", edit(features, `"features": []`), ErrMalformedHeader},
		{"both names features", edit(`"encrypted-names"`, `"encrypted-names", "plaintext-names"`), ErrMalformedHeader},
		{"features unsorted", edit(`"encrypted-names"`, `"reverse", "encrypted-names"`), ErrMalformedHeader},
		{"features repeated", edit(`"encrypted-names"`, `"encrypted-names", "encrypted-names"`), ErrMalformedHeader},
		{"kdf in other case", edit(`"pbkdf2-sha256"`, `"PBKDF2-SHA256"`), ErrUnsupported},
		{"no iterations", edit(`"iterations": 1000`, `"iterations": 0`), ErrMalformedHeader},
		{"negative iterations", edit(`"iterations": 1000`, `"iterations": -1000`), ErrMalformedHeader},
		{"too many iterations", edit(`"iterations": 1000`, `"iterations": 100000001`), ErrMalformedHeader},
		{"iterations overflowing int64", edit(`"iterations": 1000`, `"iterations": 1`+strings.Repeat("0", 5000)), ErrMalformedHeader},
		{"chunk size 48", edit(`"chunk_size": 4096`, `"chunk_size": 48`), ErrMalformedHeader},
		{"chunk size not a multiple of 16", edit(`"chunk_size": 4096`, `"chunk_size": 4100`), ErrMalformedHeader},
		{"chunk size over 1 MiB", edit(`"chunk_size": 4096`, `"chunk_size": 1048592`), ErrMalformedHeader},
		{"wrapped key too short", edit(wrapped, wrapped[:len(wrapped)-5]+`"`), ErrMalformedHeader},
		{"wrapped key too long", edit(wrapped, wrapped[:len(wrapped)-1]+`AAAA"`), ErrMalformedHeader},
		// Of the right length but not a Fernet token (FORMAT.md "Header
		// syntax"): malformed under any password, never a wrong one.
		{"wrapped key in the standard alphabet", edit("_apzfSt8", "/apzfSt8"), ErrMalformedHeader},
		{"wrapped key with a plus", edit("-2-iAS9", "+2-iAS9"), ErrMalformedHeader},
		{"wrapped key of another alphabet", edit(`"gAAAAABr`, `"\u00e9AAAAAB`), ErrMalformedHeader},
		{"wrapped key all A", edit(wrapped, `"`+strings.Repeat("A", 140)+`"`), ErrMalformedHeader},
		{"wrapped key of another version", edit(`"gAAAAABr`, `"hAAAAABr`), ErrMalformedHeader},
		{"wrapped key of 103 bytes", edit(wrapped, wrapped[:138]+`A=="`), ErrMalformedHeader},
		{"wrapped key with padding inside", edit(wrapped, wrapped[:100]+"="+wrapped[101:]), ErrMalformedHeader},
		{"wrapped key with CR LF", edit(wrapped, wrapped[:100]+`\r\n`+wrapped[102:]), ErrMalformedHeader},
		{"wrapped key with a space", edit(wrapped, wrapped[:100]+" "+wrapped[101:]), ErrMalformedHeader},
		{"array at top", "[" + good + "]", ErrMalformedHeader},
		{"string at top", `"` + strings.Repeat("a", 10) + `"`, ErrMalformedHeader},
		{"empty", "", ErrMalformedHeader},
		{"white space only", " \n", ErrMalformedHeader},
		{"cut in half", good[:len(good)/2], ErrMalformedHeader},
		// The seeds of FuzzParseHeader that are not above.
		{"fuzz seed salt", edit(`"salt"`, `"Salt"`), ErrMalformedHeader},
		{"fuzz seed empty object", "{}", ErrMalformedHeader},
		{"fuzz seed format only", `{"format":1}`, ErrMalformedHeader},
	}
	return cases
}

// unlockCases are headers that parse (ParseHeader cannot tell them from
// the frozen one) but that unlocking the frozen vault with its password
// must refuse; want is the error Unlock must give: a wrapped key whose
// MAC fails under the password's key is a wrong password (FORMAT.md
// "Keys"), one whose MAC matches but that is no valid token of 32 bytes
// is a malformed header. TestUnlockHeaders and
// TestPythonRecoveryHeaders check the Go code and recover.py.
func unlockCases(t testing.TB) []headerCase {
	good := frozenHeader(t)
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := pbkdf2.Key(sha256.New, string(pw), h.KDF.Salt, h.KDF.Iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string {
		s := strings.Replace(good, old, new, 1)
		if s == good {
			t.Fatalf("the edit of %q did not apply", old)
		}
		return s
	}
	// withKey is the frozen header with the wrapped key replaced by a
	// token of padded (the plaintext with its padding, good or bad)
	// under key.
	withKey := func(key, padded []byte) string {
		block, err := aes.NewCipher(key[16:])
		if err != nil {
			t.Fatal(err)
		}
		tok := append([]byte{0x80}, make([]byte, 8+16)...)
		tok[8], tok[9] = 1, 2 // timestamp 1, IV starting with 2
		ct := make([]byte, len(padded))
		cipher.NewCBCEncrypter(block, tok[9:25]).CryptBlocks(ct, padded)
		m := hmac.New(sha256.New, key[:16])
		m.Write(append(tok, ct...))
		return edit(h.WrappedKey, base64.URLEncoding.EncodeToString(m.Sum(append(tok, ct...))))
	}
	master := bytes.Repeat([]byte{7}, 32)
	pad := func(b []byte, p byte, n int) []byte { return append(bytes.Clone(b), bytes.Repeat([]byte{p}, n)...) }
	return []headerCase{
		{"wrapped key with its MAC changed", edit(`0pMWFRwR"`, `0pMWFRwS"`), ErrWrongPassword},
		{"wrapped key under another password", withKey(bytes.Repeat([]byte{1}, 32), pad(master, 16, 16)), ErrWrongPassword},
		{"tampered iterations", edit(`"iterations": 1000`, `"iterations": 1001`), ErrWrongPassword},
		{"tampered chunk size", edit(`"chunk_size": 4096`, `"chunk_size": 8192`), ErrHeaderTampered},
		{"wrapped key with pad 17", withKey(kek, pad(master, 17, 16)), ErrMalformedHeader},
		{"wrapped key with pad 0", withKey(kek, pad(master, 0, 16)), ErrMalformedHeader},
		{"wrapped key with mixed pad", withKey(kek, append(pad(master, 16, 15), 15)), ErrMalformedHeader},
		{"wrapped key of 33 bytes", withKey(kek, pad(append(master, 1), 15, 15)), ErrMalformedHeader},
		{"wrapped key of 47 bytes", withKey(kek, pad(master, 1, 16)), ErrMalformedHeader},
		// Sealed under the right key, the header MAC now fails.
		{"wrapped key resealed", withKey(kek, pad(master, 16, 16)), ErrHeaderTampered},
	}
}

// TestUnlockHeaders: each case of unlockCases parses, and Unlock with
// the frozen password fails as the table says.
func TestUnlockHeaders(t *testing.T) {
	pw, err := os.ReadFile(frozenPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range unlockCases(t) {
		if _, err := ParseHeader([]byte(c.text)); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, HeaderName), []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Unlock(dir, Credential{Password: pw}); !errors.Is(err, c.want) {
			t.Errorf("%s: Unlock: %v, want %v", c.name, err, c.want)
		}
	}
}

// utf16LE is s in UTF-16, little-endian, with a byte order mark: JSON
// that some parsers (Python's json.loads of bytes) detect and accept.
func utf16LE(s string) string {
	b := []byte{0xff, 0xfe}
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

// TestParseHeaderStrict: each case of headerCases parses, or fails as
// the table says.
func TestParseHeaderStrict(t *testing.T) {
	for _, c := range headerCases(t) {
		_, err := ParseHeader([]byte(c.text))
		if c.want == nil && err != nil {
			t.Errorf("%s: valid header rejected: %v", c.name, err)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// TestReadHeaderNotRegular plants what an attacker could put in place of
// fernetfs.json: each is a malformed header at once, never a hang (a
// FIFO), an endless read (a link to /dev/zero) or a huge allocation.
func TestReadHeaderNotRegular(t *testing.T) {
	cases := map[string]func(path string) error{
		"fifo":            func(p string) error { return unix.Mkfifo(p, 0o600) },
		"symlink to zero": func(p string) error { return os.Symlink("/dev/zero", p) },
		"symlink to header": func(p string) error {
			return os.Symlink(filepath.Join("..", "..", "testdata", "vault-v1", HeaderName), p)
		},
		"directory": func(p string) error { return os.Mkdir(p, 0o700) },
		"device": func(p string) error { // like /dev/null
			return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3)))
		},
		"1 GiB file": func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.WriteString(frozenHeader(t)); err != nil {
				return err
			}
			return f.Truncate(1 << 30)
		},
		"one byte too long": func(p string) error {
			h := frozenHeader(t)
			return os.WriteFile(p, []byte(h+strings.Repeat(" ", MaxHeaderLen+1-len(h))), 0o600)
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := plant(filepath.Join(dir, HeaderName)); err != nil {
				if errors.Is(err, unix.EPERM) && os.Getenv("CI") == "" {
					t.Skipf("not allowed here: %v", err)
				}
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			h, err := ReadHeader(dir)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("got %v, %v; want %v", h, err, ErrMalformedHeader)
			}
			// Only the first MaxHeaderLen+1 bytes may be read, whatever
			// the file's size.
			if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
				t.Fatalf("reading the header allocated %d bytes", got)
			}
		})
	}
	// A header of exactly MaxHeaderLen bytes is fine.
	dir := t.TempDir()
	h := frozenHeader(t)
	if err := os.WriteFile(filepath.Join(dir, HeaderName), []byte(h+strings.Repeat(" ", MaxHeaderLen-len(h))), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHeader(dir); err != nil {
		t.Fatalf("header of %d bytes: %v", MaxHeaderLen, err)
	}
}
