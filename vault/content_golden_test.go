package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var updateContentGolden = flag.Bool("update-content-golden", false, "rewrite vault/testdata/golden/content-*.bin")

// goldenContent builds a file with fixedVault's master key, file ID
// 00 01 .. 0f and chunk i sealed with IV bytes i*16+k, and returns its
// backing bytes and plaintext.
func goldenContent(t *testing.T, chunkSize int, build func(c *Content) []byte) ([]byte, []byte) {
	t.Helper()
	mb := &memBacking{}
	c := fixedVault(chunkSize).OpenContent(mb, "golden")
	c.newID = func(id []byte) {
		for k := range id {
			id[k] = byte(k)
		}
	}
	c.iv = func(chunk int64, iv []byte) {
		for k := range iv {
			iv[k] = byte(chunk*16 + int64(k))
		}
	}
	plain := build(c)
	return mb.bytes(), plain
}

var goldenCases = []struct {
	file  string
	chunk int
	build func(t *testing.T, c *Content) []byte
}{
	{"content-c64.bin", 64, func(t *testing.T, c *Content) []byte {
		// Three chunks, then a write past the end that turns the old
		// last chunk into a full one and leaves chunks 3 and 4 as holes.
		want := make([]byte, 5*64+10)
		for i := range 150 {
			want[i] = byte('a' + i%26)
		}
		copy(want[5*64+3:], "golden!")
		mustWrite(t, c, want[:150], 0)
		mustWrite(t, c, []byte("golden!"), 5*64+3)
		return want
	}},
	{"content-c4096.bin", 4096, func(t *testing.T, c *Content) []byte {
		want := bytes.Repeat([]byte("fernetfs golden file\n"), 250) // 5250 bytes: 2 chunks
		mustWrite(t, c, want, 0)
		return want
	}},
}

func TestContentGolden(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.file, func(t *testing.T) {
			raw, plain := goldenContent(t, gc.chunk, func(c *Content) []byte { return gc.build(t, c) })
			path := filepath.Join("testdata", "golden", gc.file)
			if *updateContentGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-content-golden once to create it)", err)
			}
			if !bytes.Equal(raw, want) {
				t.Fatalf("backing bytes differ from %s: the format changed", path)
			}
			// The stored file decrypts with the normal reader.
			c := fixedVault(gc.chunk).OpenContent(&memBacking{data: want}, path)
			if got := readAll(t, c); !bytes.Equal(got, plain) {
				t.Fatal("golden file decrypts to different plaintext")
			}
			if err := c.Check(nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestContentPythonInterop decrypts the golden files with Python's
// cryptography package: each line is a standard Fernet token under the
// file key (HKDF of the master key, salted with the file ID).
func TestContentPythonInterop(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if exec.Command(py, "-c", "import cryptography.fernet").Run() != nil {
		t.Skip("python3-cryptography not installed")
	}
	// Recovery without fernetfs: split on newlines, drop the header line,
	// empty lines (the trailing pad newlines) and the NULs of holes (a
	// hole line has no newline, so it prefixes the next token).
	const script = `
import sys
from cryptography.fernet import Fernet
f = Fernet(sys.argv[1])
lines = open(sys.argv[2], "rb").read().split(b"\n")
out = b""
for line in lines[1:]:
    line = line.lstrip(b"\0")
    if line:
        out += f.decrypt(line)
sys.stdout.buffer.write(out)
`
	for _, gc := range goldenCases {
		raw, plain := goldenContent(t, gc.chunk, func(c *Content) []byte { return gc.build(t, c) })
		id, _ := hex.DecodeString(string(raw[len(fileMagic) : fileHeaderLen-1]))
		v := fixedVault(gc.chunk)
		key := base64.URLEncoding.EncodeToString(hkdf32(v.keys.master[:], id, labelContent))
		path := filepath.Join(t.TempDir(), gc.file)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", script, key, path).Output()
		if err != nil {
			t.Fatalf("%s: python: %v", gc.file, err)
		}
		// Python skipped the holes; compare the data chunks.
		var want []byte
		for i := 0; i < len(plain); i += gc.chunk {
			ch := plain[i:min(i+gc.chunk, len(plain))]
			if !allZero(ch) {
				want = append(want, ch...)
			}
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("%s: python decrypted %q, want %q", gc.file, out, want)
		}
	}
}
