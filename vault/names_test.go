package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

func testDirIV(b byte) []byte { return bytes.Repeat([]byte{b}, DirIVLen) }

// sidecars is a readSidecar backed by a map, for DecryptName tests that
// do not touch the disk.
func sidecars(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, os.ErrNotExist
		}
		return []byte(s), nil
	}
}

// roundTrip encrypts and decrypts name in dirIV, failing on any mismatch.
func roundTrip(t *testing.T, v *Vault, dirIV []byte, name string) (backing, long string) {
	t.Helper()
	backing, long, err := v.EncryptName(dirIV, name)
	if err != nil {
		t.Fatalf("EncryptName(%d bytes): %v", len(name), err)
	}
	if len(backing) > 255 {
		t.Fatalf("backing name of %d bytes", len(backing))
	}
	got, err := v.DecryptName(dirIV, backing, sidecars(map[string]string{LongNameSidecar(backing): long}))
	if err != nil {
		t.Fatalf("DecryptName(%d bytes): %v", len(name), err)
	}
	if got != name {
		t.Fatalf("round trip: got %q, want %q", got, name)
	}
	return backing, long
}

func TestNameRoundTripLengths(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(7)
	for n := 1; n <= 300; n++ {
		name := strings.Repeat(string(rune('a'+n%26)), n)
		if n > MaxNameLen {
			if _, _, err := v.EncryptName(iv, name); !errors.Is(err, ErrNameTooLong) || !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Fatalf("name of %d bytes: err = %v, want ErrNameTooLong", n, err)
			}
			continue
		}
		backing, long := roundTrip(t, v, iv, name)
		again, long2, _ := v.EncryptName(iv, name)
		if again != backing || long2 != long {
			t.Fatalf("name of %d bytes: not deterministic", n)
		}
		isLong := n >= 128
		if (long != "") != isLong || isLongName(backing) != isLong {
			t.Fatalf("name of %d bytes: long=%v (backing %q), want long=%v", n, long != "", backing, isLong)
		}
		if isLong {
			if len(long) <= 255 || backing != longNameFor([]byte(long)) {
				t.Fatalf("name of %d bytes: bad long form %q / %d-byte token", n, backing, len(long))
			}
		} else if backing[0] != 'g' || len(backing) != fernet.TokenLen(n) {
			t.Fatalf("name of %d bytes: backing %q is not a bare token", n, backing)
		}
	}
}

func TestNameUnicodeAndBytes(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(1)
	for _, name := range []string{
		"héllo wörld.txt", "日本語のファイル名", "🦀🔐", "e\u0301", " ", "..." /* not "..": legal */, ".hidden",
		"\xff\xfe invalid utf-8", "line\nbreak", strings.Repeat("é", 127) + "x", // 255 bytes, long
		"fernetfs", "xfernetfs.json",
	} {
		roundTrip(t, v, iv, name)
	}
}

func TestNameSameNameTwoDirs(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	a, _, _ := v.EncryptName(testDirIV(1), "same")
	b, _, _ := v.EncryptName(testDirIV(2), "same")
	if a == b {
		t.Fatal("same name in two directories gave the same token")
	}
	// And a token from one directory does not decode in the other.
	if _, err := v.DecryptName(testDirIV(2), a, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign directory's token accepted: %v", err)
	}
	la, lta, _ := v.EncryptName(testDirIV(1), strings.Repeat("L", 200))
	if _, err := v.DecryptName(testDirIV(2), la, sidecars(map[string]string{LongNameSidecar(la): lta})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign directory's long name accepted: %v", err)
	}
}

// TestNameInteropShape checks that a backing name is a plain Fernet token
// under NameKey with timestamp 0 and the documented HMAC IV, which is what
// lets any Fernet library decrypt it.
func TestNameInteropShape(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(9)
	for _, name := range []string{"report.pdf", strings.Repeat("x", 200)} {
		backing, long, _ := v.EncryptName(iv, name)
		tok := backing
		if long != "" {
			tok = long
		}
		plain, ts, err := v.Keys().NameKey().NewCodec().Open(nil, []byte(tok))
		if err != nil || string(plain) != name || ts != 0 {
			t.Fatalf("plain Fernet Open: %q %d %v", plain, ts, err)
		}
		raw, err := base64.URLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, v.Keys().NameIVKey())
		m.Write(iv)
		m.Write([]byte(name))
		if !bytes.Equal(raw[9:25], m.Sum(nil)[:16]) {
			t.Fatal("token IV is not HMAC-SHA256(NameIVKey, dirIV || name)[:16]")
		}
	}
}

// TestNamePythonInterop decrypts a name with Python's cryptography
// package, the recovery path the README promises.
func TestNamePythonInterop(t *testing.T) {
	if exec.Command("python3", "-c", "import cryptography.fernet").Run() != nil {
		t.Skip("python3 with cryptography not installed")
	}
	v := newTestVault(t, CreateOptions{})
	name := "Ünïcode name 📁"
	backing, _, _ := v.EncryptName(testDirIV(3), name)
	key := base64.URLEncoding.EncodeToString(hkdf32(v.keys.master[:], nil, labelName))
	cmd := exec.Command("python3", "-c",
		"import sys; from cryptography.fernet import Fernet; sys.stdout.buffer.write(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()))",
		key, backing)
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != name {
		t.Fatalf("python: %q %v", out, err)
	}
}

func TestNameRejectsNonCanonical(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(4)
	// Names giving each padding shape: 1 (==), 17 (=), 33 (none).
	for _, name := range []string{"a", strings.Repeat("b", 17), strings.Repeat("c", 33)} {
		backing, _, _ := v.EncryptName(iv, name)
		trimmed := strings.TrimRight(backing, "=")
		pad := len(backing) - len(trimmed)
		var bad []string
		if pad > 0 {
			// The last significant character carries 4 (==) or 2 (=)
			// unused low bits; setting them changes the text, not the bytes.
			last := strings.IndexByte(base64URLAlphabet, trimmed[len(trimmed)-1])
			for bits := 1; bits < 1<<(2*pad); bits++ {
				alt := trimmed[:len(trimmed)-1] + string(base64URLAlphabet[last^bits]) + backing[len(trimmed):]
				bad = append(bad, alt)
			}
			bad = append(bad, trimmed, trimmed+"="+strings.Repeat("=", pad), backing[:len(backing)-1])
		} else {
			bad = append(bad, backing+"==", backing+"=")
		}
		// Standard alphabet instead of URL-safe, where it differs.
		if std := strings.NewReplacer("-", "+", "_", "/").Replace(backing); std != backing {
			bad = append(bad, std)
		}
		// The same name under the right key, but a random IV or a timestamp.
		c := v.Keys().NameKey().NewCodec()
		bad = append(bad, string(c.Seal(nil, []byte(name), 0, nil)))
		raw, _ := base64.URLEncoding.DecodeString(backing)
		bad = append(bad, string(c.Seal(nil, []byte(name), 1, raw[9:25])))
		for _, b := range bad {
			if b == backing {
				t.Fatalf("test bug: %q is the canonical form", b)
			}
			if got, err := v.DecryptName(iv, b, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("non-canonical %q (of %q) accepted as %q (err %v)", b, backing, got, err)
			}
		}
		if _, err := v.DecryptName(iv, backing, nil); err != nil {
			t.Fatalf("canonical form rejected: %v", err)
		}
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestNameRejectsBadTokens(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(5)
	good, _, _ := v.EncryptName(iv, "file")
	flip := []byte(good)
	flip[20] ^= 1
	other := newTestVault(t, CreateOptions{})
	foreign, _, _ := other.EncryptName(iv, "file")
	c := v.Keys().NameKey().NewCodec()
	// Tokens that decrypt fine but to names no directory can hold.
	seal := func(n string) string {
		nc := v.newNameCodec(v.Keys().NameKey())
		return string(nc.sealString(iv, n))
	}
	for _, b := range []string{
		"", "x", "junk", ".DS_Store", string(flip), foreign, good + "AAAA",
		seal(""), seal("."), seal(".."), seal("a/b"), seal("a\x00b"),
		string(c.Seal(nil, []byte("file"), 0, make([]byte, 16))),
	} {
		if got, err := v.DecryptName(iv, b, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecryptName(%q) = %q, %v; want ErrCorrupt", b, got, err)
		} else if len(b) > 0 && len(b) < 100 && !strings.Contains(err.Error(), b) {
			t.Errorf("error %q does not name the backing entry %q", err, b)
		}
	}
	// A name that is short must not be accepted in long form.
	short, _, _ := v.EncryptName(iv, "short")
	ln := longNameFor([]byte(short))
	if _, err := v.DecryptName(iv, ln, sidecars(map[string]string{LongNameSidecar(ln): short})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short name in long form accepted: %v", err)
	}
	if _, _, err := v.EncryptName(iv[:8], "x"); err == nil {
		t.Fatal("short dir IV accepted")
	}
}

func TestLongNameSidecarErrors(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(6)
	backing, long, _ := v.EncryptName(iv, strings.Repeat("n", 150))
	backing2, long2, _ := v.EncryptName(iv, strings.Repeat("m", 150))
	sc := LongNameSidecar(backing)
	cases := map[string]func(string) ([]byte, error){
		"missing":          sidecars(nil),
		"nil reader":       nil,
		"other name's":     sidecars(map[string]string{sc: long2}),
		"truncated":        sidecars(map[string]string{sc: long[:len(long)-4]}),
		"trailing newline": sidecars(map[string]string{sc: long + "\n"}),
		"empty":            sidecars(map[string]string{sc: ""}),
	}
	for what, rs := range cases {
		if _, err := v.DecryptName(iv, backing, rs); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), backing) {
			t.Errorf("sidecar %s: err = %v", what, err)
		}
	}
	if _, err := v.DecryptName(iv, backing, sidecars(nil)); errors.Is(err, os.ErrNotExist) {
		t.Error("a missing sidecar must read as corruption, not as a missing file")
	}
	// The sidecar is not itself a name, and a malformed hash is refused.
	for _, b := range []string{sc, LongNamePrefix + "short", backing + "x"} {
		if _, err := v.DecryptName(iv, b, sidecars(map[string]string{LongNameSidecar(b): long})); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecryptName(%q): %v", b, err)
		}
	}
	if got, err := v.DecryptName(iv, backing2, sidecars(map[string]string{LongNameSidecar(backing2): long2})); err != nil || got != strings.Repeat("m", 150) {
		t.Fatalf("good long name: %q %v", got, err)
	}
}

func TestCheckPlainName(t *testing.T) {
	for name, want := range map[string]error{
		"ok": nil, "...": nil, "a.fernetfs.": nil, "fernetfs": nil, strings.Repeat("x", 255): nil,
		"": ErrInvalidName, ".": ErrInvalidName, "..": ErrInvalidName, "a/b": ErrInvalidName, "/": ErrInvalidName,
		"a\x00": ErrInvalidName, strings.Repeat("x", 256): ErrNameTooLong,
		// Reserved only in plaintext-name vaults (TestPlaintextNameVaultNames).
		"fernetfs.json": nil, "fernetfs.diriv": nil, ".fernetfs.json.tmp-1": nil,
	} {
		err := CheckPlainName(name)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("CheckPlainName(%q) = %v, want %v", name, err, want)
		}
	}
	if !errors.Is(CheckPlainName("a/b"), syscall.EINVAL) {
		t.Error("invalid name does not map to EINVAL")
	}
}

func TestIsReservedName(t *testing.T) {
	for name, want := range map[string]bool{
		HeaderName: true, HeaderBackupName: true, DirIVName: true, ".fernetfs.json.tmp-123": true,
		LongNamePrefix + strings.Repeat("A", 43): true, LongNamePrefix + strings.Repeat("A", 43) + ".name": true,
		"gAAAAA": false, "fernetfs": false, "x.fernetfs.json": false,
	} {
		if IsReservedName(name) != want {
			t.Errorf("IsReservedName(%q) != %v", name, want)
		}
	}
}

func TestPlaintextNameVaultNames(t *testing.T) {
	v := newTestVault(t, CreateOptions{PlaintextNames: true})
	for _, name := range []string{"plain.txt", strings.Repeat("p", 255), "日本"} {
		b, long, err := v.EncryptName(nil, name)
		if err != nil || b != name || long != "" {
			t.Fatalf("EncryptName(%q) = %q %q %v", name, b, long, err)
		}
		if got, err := v.DecryptName(nil, name, nil); err != nil || got != name {
			t.Fatalf("DecryptName(%q) = %q %v", name, got, err)
		}
	}
	for _, name := range []string{HeaderName, DirIVName, ".fernetfs.json.tmp-1"} {
		if _, _, err := v.EncryptName(nil, name); !errors.Is(err, ErrReservedName) {
			t.Fatalf("EncryptName(%q): %v", name, err)
		}
		if _, err := v.DecryptName(nil, name, nil); !errors.Is(err, ErrReservedName) {
			t.Fatalf("DecryptName(%q): %v", name, err)
		}
		if _, _, err := v.EncryptName(nil, name); !errors.Is(err, syscall.EPERM) {
			t.Fatalf("reserved name %q does not map to EPERM", name)
		}
	}
}

func TestEncryptedVaultAllowsMetadataLikeNames(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(3)
	for _, name := range []string{HeaderName, DirIVName, LongNamePrefix + "x", ".fernetfs.json.tmp-1"} {
		b, _, err := v.EncryptName(iv, name)
		if err != nil || IsReservedName(b) {
			t.Fatalf("EncryptName(%q) = %q, %v", name, b, err)
		}
		if got, err := v.DecryptName(iv, b, nil); err != nil || got != name {
			t.Fatalf("DecryptName(%q) = %q, %v", b, got, err)
		}
	}
}

func FuzzDecryptName(f *testing.F) {
	v := newTestVault(f, CreateOptions{})
	iv := testDirIV(8)
	for _, n := range []string{"a", "hello.txt", strings.Repeat("z", 127), strings.Repeat("y", 128), strings.Repeat("é", 127)} {
		b, long, _ := v.EncryptName(iv, n)
		f.Add(b, []byte(long))
		f.Add(strings.TrimRight(b, "="), []byte(long))
		if long != "" {
			f.Add(long, []byte(nil))
			f.Add(b, []byte(long[:len(long)-1]))
		}
	}
	f.Add("", []byte(nil))
	f.Add(".", []byte(nil))
	f.Add(LongNamePrefix+strings.Repeat("A", 43), []byte("gAAAAA"))
	f.Add("gAAAAABhello==", []byte(nil))
	f.Fuzz(func(t *testing.T, backing string, sidecar []byte) {
		name, err := v.DecryptName(iv, backing, func(sc string) ([]byte, error) {
			if sc != LongNameSidecar(backing) {
				t.Fatalf("asked for sidecar %q of %q", sc, backing)
			}
			return sidecar, nil
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		b, long, err := v.EncryptName(iv, name)
		if err != nil || b != backing {
			t.Fatalf("accepted %q as %q, which encrypts to %q (%v)", backing, name, b, err)
		}
		if long != "" && long != string(sidecar) {
			t.Fatalf("accepted long name %q with a sidecar that is not its token", backing)
		}
	})
}

// Every lookup, create and listing entry translates a name; the codec's
// own buffers leave one allocation each way, the returned string.
func TestNameTranslationAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops codecs at random")
	}
	v := newTestVault(t, CreateOptions{})
	iv := testDirIV(5)
	b, _, _ := v.EncryptName(iv, "some-file-name.go")
	if n := testing.AllocsPerRun(100, func() { v.EncryptName(iv, "some-file-name.go") }); n > 1 {
		t.Errorf("EncryptName: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { v.DecryptName(iv, b, nil) }); n > 1 {
		t.Errorf("DecryptName: %v allocations, want 1", n)
	}
}
