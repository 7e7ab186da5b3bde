package vault

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestSymlinkRoundTrip(t *testing.T) {
	for _, plain := range []bool{false, true} {
		v := newTestVault(t, CreateOptions{PlaintextNames: plain})
		for _, target := range []string{"a", "../x/y", "/abs/path with space", "ünï/🔗", strings.Repeat("t", 3007)} {
			tok, err := v.EncryptSymlink(target)
			if err != nil {
				t.Fatal(err)
			}
			if len(target) > 3 && strings.Contains(tok, target) || len(tok) > 4095 {
				t.Fatalf("token %q exposes or overflows target", tok)
			}
			// Standard Fernet under SymlinkKey, timestamp 0.
			if p, ts, err := v.Keys().SymlinkKey().NewCodec().Open(nil, []byte(tok)); err != nil || string(p) != target || ts != 0 {
				t.Fatalf("plain Fernet Open: %v %d", err, ts)
			}
			if got, err := v.DecryptSymlink(tok); err != nil || got != target {
				t.Fatalf("DecryptSymlink = %q, %v", got, err)
			}
			if tok2, _ := v.EncryptSymlink(target); tok2 == tok {
				t.Fatal("symlink IV is not random")
			}
		}
	}
}

func TestSymlinkErrors(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	if _, err := v.EncryptSymlink(strings.Repeat("t", 3008)); !errors.Is(err, ErrNameTooLong) || !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("too long target: %v", err)
	}
	if _, err := v.EncryptSymlink(""); err == nil {
		t.Fatal("empty target accepted")
	}
	if _, err := v.EncryptSymlink("a\x00b"); err == nil {
		t.Fatal("NUL in target accepted")
	}
	good, _ := v.EncryptSymlink("target")
	flip := []byte(good)
	flip[30] ^= 2
	nameTok, _, _ := v.EncryptName(testDirIV(1), "target") // right shape, wrong key
	c := v.Keys().SymlinkKey().NewCodec()
	for _, bad := range []string{"", "target", "/etc/passwd", string(flip), nameTok,
		string(c.Seal(nil, []byte("target"), 5, nil)), string(c.Seal(nil, nil, 0, nil)), string(c.Seal(nil, []byte("a\x00"), 0, nil))} {
		if got, err := v.DecryptSymlink(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecryptSymlink(%q) = %q, %v", bad, got, err)
		}
	}
}

func FuzzDecryptSymlink(f *testing.F) {
	v := newTestVault(f, CreateOptions{})
	for _, s := range []string{"a", "../up/there", strings.Repeat("x", 100)} {
		tok, _ := v.EncryptSymlink(s)
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
	}
	f.Add("")
	f.Add("gAAAAA==")
	f.Add("/etc/passwd")
	f.Fuzz(func(t *testing.T, tok string) {
		target, err := v.DecryptSymlink(tok)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if target == "" || strings.IndexByte(target, 0) >= 0 {
			t.Fatalf("accepted impossible target %q", target)
		}
		tok2, err := v.EncryptSymlink(target)
		if err != nil {
			t.Fatalf("accepted target %q cannot be re-encrypted: %v", target, err)
		}
		if back, err := v.DecryptSymlink(tok2); err != nil || back != target {
			t.Fatalf("re-encrypted target: %q %v", back, err)
		}
	})
}
