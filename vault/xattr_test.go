package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestXattrNameRoundTrip(t *testing.T) {
	for _, plain := range []bool{false, true} {
		v := newTestVault(t, CreateOptions{PlaintextNames: plain})
		for _, name := range []string{"user.a", "user.mime_type", "user.ünï", "user." + strings.Repeat("x", 122)} {
			b, err := v.EncryptXattrName(name)
			if err != nil {
				t.Fatalf("EncryptXattrName(%q): %v", name, err)
			}
			if !strings.HasPrefix(b, "user.") || len(b) > 255 || len(name) > 8 && strings.Contains(b, name[5:]) {
				t.Fatalf("backing xattr name %q", b)
			}
			if b2, _ := v.EncryptXattrName(name); b2 != b {
				t.Fatal("xattr names are not deterministic")
			}
			if got, err := v.DecryptXattrName(b); err != nil || got != name {
				t.Fatalf("DecryptXattrName = %q, %v", got, err)
			}
			// Plain Fernet under XattrKey, with the documented IV.
			tok := b[5:]
			if p, ts, err := v.Keys().XattrKey().NewCodec().Open(nil, []byte(tok)); err != nil || string(p) != name || ts != 0 {
				t.Fatalf("plain Fernet Open: %v", err)
			}
			raw, _ := base64.URLEncoding.DecodeString(tok)
			m := hmac.New(sha256.New, v.Keys().NameIVKey())
			m.Write([]byte("xattr" + name))
			if !bytes.Equal(raw[9:25], m.Sum(nil)[:16]) {
				t.Fatal("xattr IV is not HMAC-SHA256(NameIVKey, \"xattr\" || name)[:16]")
			}
		}
	}
}

func TestXattrNameErrors(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	if _, err := v.EncryptXattrName("user." + strings.Repeat("x", 123)); !errors.Is(err, ErrXattrNameTooLong) || !errors.Is(err, syscall.ERANGE) {
		t.Fatalf("too long: %v", err)
	}
	if _, err := v.EncryptXattrName("user." + strings.Repeat("x", 300)); !errors.Is(err, ErrXattrNameTooLong) {
		t.Fatalf("way too long: %v", err)
	}
	for _, n := range []string{"security.selinux", "trusted.x", "system.posix_acl_access", "User.x", ""} {
		if _, err := v.EncryptXattrName(n); !errors.Is(err, ErrXattrNamespace) || !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Fatalf("EncryptXattrName(%q): %v", n, err)
		}
	}
	for _, n := range []string{"user.", "user.a\x00"} {
		if _, err := v.EncryptXattrName(n); !errors.Is(err, ErrInvalidName) {
			t.Fatalf("EncryptXattrName(%q): %v", n, err)
		}
	}
	if _, err := v.DecryptXattrName("security.selinux"); !errors.Is(err, ErrXattrNamespace) {
		t.Fatalf("foreign namespace: %v", err)
	}
	good, _ := v.EncryptXattrName("user.k")
	nc := v.newNameCodec(v.Keys().XattrKey())
	// The documented IV, but a non-zero timestamp (FORMAT.md: readers
	// reject it through the re-encryption check).
	ivMAC := hmac.New(sha256.New, v.Keys().NameIVKey())
	ivMAC.Write([]byte("xattruser.k"))
	stamped := "user." + string(v.Keys().XattrKey().NewCodec().Seal(nil, []byte("user.k"), 1, ivMAC.Sum(nil)[:16]))
	if again := "user." + string(v.Keys().XattrKey().NewCodec().Seal(nil, []byte("user.k"), 0, ivMAC.Sum(nil)[:16])); again != good {
		t.Fatal("xattr name IV is not HMAC(name IV key, \"xattr\" || name)[:16]")
	}
	for _, b := range []string{
		stamped,
		"user.k", "user.", good[:len(good)-1], strings.TrimRight(good, "="),
		"user." + string(v.Keys().XattrKey().NewCodec().Seal(nil, []byte("user.k"), 0, nil)), // random IV
		"user." + string(nc.sealString(xattrContext, "trusted.k")),                           // not user.*
		"user." + string(nc.sealString(xattrContext, "user.")),
	} {
		if _, err := v.DecryptXattrName(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecryptXattrName(%q): %v", b, err)
		}
	}
	// A file-name token does not pass as an xattr name.
	fn, _, _ := v.EncryptName(testDirIV(1), "user.k")
	if _, err := v.DecryptXattrName("user." + fn); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("file-name token accepted as xattr name: %v", err)
	}
}

func TestXattrValue(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	for _, val := range [][]byte{nil, {}, []byte("v"), bytes.Repeat([]byte{0, 1, 2}, 10000)} {
		tok := v.EncryptXattrValue(val)
		got, err := v.DecryptXattrValue(tok)
		if err != nil || !bytes.Equal(got, val) || got == nil {
			t.Fatalf("value of %d bytes: %v", len(val), err)
		}
		if p, ts, err := v.Keys().XattrKey().NewCodec().Open(nil, tok); err != nil || !bytes.Equal(p, val) || ts != 0 {
			t.Fatalf("plain Fernet Open: %v", err)
		}
		if bytes.Equal(v.EncryptXattrValue(val), tok) {
			t.Fatal("xattr value IV is not random")
		}
	}
	tok := v.EncryptXattrValue([]byte("secret"))
	tok[len(tok)/2] ^= 1
	other := newTestVault(t, CreateOptions{})
	for _, bad := range [][]byte{nil, []byte("secret"), tok, other.EncryptXattrValue([]byte("x")),
		v.Keys().XattrKey().NewCodec().Seal(nil, []byte("x"), 9, nil)} {
		if _, err := v.DecryptXattrValue(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecryptXattrValue(%q): %v", bad, err)
		}
	}
}
