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

// TestParseHeaderStrict feeds every loose form of the frozen header that
// encoding/json alone accepts: each must be a malformed header, while
// the frozen header and changes that are only JSON white space parse.
func TestParseHeaderStrict(t *testing.T) {
	good := frozenHeader(t)
	const salt = `"LET2Yx4HjyHGub9b54gx9wpufsdydRHJ9eJ7iH5jsIs="`
	const mac = `"5ERGI4KhGk9lIP2o/z16qah9vChVgLIGzVkGcOlsHeE="`
	if !strings.Contains(good, salt) || !strings.Contains(good, mac) {
		t.Fatal("the frozen header changed; update this test")
	}
	withCreatedBy := strings.Replace(good, `"mac"`, `"created_by": "fernetfs test",
  "mac"`, 1)
	for _, ok := range []string{
		good,
		withCreatedBy,
		strings.TrimSpace(good),
		"\r\n\t " + strings.ReplaceAll(good, "\n", "\r\n") + " \n\n",
	} {
		if _, err := ParseHeader([]byte(ok)); err != nil {
			t.Errorf("valid header rejected: %v\n%s", err, ok)
		}
	}
	loose := map[string]string{
		"member name in other case":    strings.Replace(good, `"chunk_size"`, `"Chunk_Size"`, 1),
		"nested name in other case":    strings.Replace(good, `"salt"`, `"SALT"`, 1),
		"object name in other case":    strings.Replace(good, `"kdf"`, `"Kdf"`, 1),
		"duplicate member":             strings.Replace(good, `"chunk_size": 4096`, `"chunk_size": 8192, "chunk_size": 4096`, 1),
		"duplicate member same value":  strings.Replace(good, `"format": 1`, `"format": 1, "format": 1`, 1),
		"duplicate nested member":      strings.Replace(good, `"iterations": 1000`, `"iterations": 5, "iterations": 1000`, 1),
		"duplicate object":             strings.Replace(good, `"chunk_size"`, `"kdf": {"name": "x", "iterations": 1, "salt": ""}, "chunk_size"`, 1),
		"duplicate in case":            strings.Replace(good, `"mac"`, `"MAC": "", "mac"`, 1),
		"LF in salt":                   strings.Replace(good, salt, salt[:20]+`\n`+salt[20:], 1),
		"CRLF in mac":                  strings.Replace(good, mac, mac[:20]+`\r\n`+mac[20:], 1),
		"pad bits in mac":              strings.Replace(good, mac, strings.Replace(mac, "HeE=", "HeF=", 1), 1),
		"pad bits in salt":             strings.Replace(good, salt, strings.Replace(salt, "sIs=", "sIt=", 1), 1),
		"salt without padding":         strings.Replace(good, salt, strings.TrimSuffix(salt, `="`)+`"`, 1),
		"url alphabet in mac":          strings.Replace(good, mac, strings.Replace(mac, "/", "_", 1), 1),
		"trailing brace":               good + "}",
		"trailing brace after space":   good + "\n}\n",
		"trailing bracket":             good + "]",
		"trailing object":              good + "{}",
		"trailing text":                good + "x",
		"null member":                  strings.Replace(good, `"chunk_size": 4096`, `"chunk_size": null`, 1),
		"null object":                  strings.Replace(good, good[strings.Index(good, `"kdf": {`):strings.Index(good, `"chunk_size"`)], `"kdf": null, `, 1),
		"missing member":               strings.Replace(good, `"format": 1,`, ``, 1),
		"empty created_by":             strings.Replace(good, `"mac"`, `"created_by": "", "mac"`, 1),
		"duplicate created_by":         strings.Replace(withCreatedBy, `"mac"`, `"created_by": "x", "mac"`, 1),
		"created_by in other case":     strings.Replace(withCreatedBy, `"created_by"`, `"Created_By"`, 1),
		"null created_by":              strings.Replace(good, `"mac"`, `"created_by": null, "mac"`, 1),
		"float number":                 strings.Replace(good, `"format": 1`, `"format": 1.0`, 1),
		"array at top":                 "[" + good + "]",
		"string with mac as its value": `"` + strings.Repeat("a", 10) + `"`,
	}
	for name, s := range loose {
		if s == good {
			t.Fatalf("%s: the edit did not apply", name)
		}
		if _, err := ParseHeader([]byte(s)); !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("%s: got %v, want %v", name, err, ErrMalformedHeader)
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
