package vault

import (
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
