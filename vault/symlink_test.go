package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
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
	if _, err := v.EncryptSymlink(strings.Repeat("t", 4096)); !errors.Is(err, ErrNameTooLong) || !errors.Is(err, syscall.ENAMETOOLONG) {
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

// TestLongSymlink: a target whose token does not fit a backing symlink
// (3008 to 4095 bytes) is a long link to a sidecar in BACKING's root,
// wherever the symlink is; it reads back, and any damage to the link or
// its sidecar is corruption, never another target.
func TestLongSymlink(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	root, err := v.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	sub, err := root.OpenDir("sub")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, n := range []int{3007, 3008, MaxSymlinkTarget} {
		target := strings.Repeat("a/", n/2) + strings.Repeat("b", n%2)
		b, err := sub.PrepareName("l")
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Symlinkat(target, sub.Fd(), b); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		link, err := readlinkTest(sub.Fd(), b)
		if err != nil {
			t.Fatal(err)
		}
		if IsLongLink(link) != (n > 3007) {
			t.Fatalf("%d-byte target stored as %q", n, link[:20])
		}
		if got, err := v.DecryptSymlink(link); err != nil || got != target {
			t.Fatalf("%d bytes: DecryptSymlink: %v", n, err)
		}
		if IsLongLink(link) {
			side := filepath.Join(v.Dir(), link)
			tok, err := os.ReadFile(side)
			if err != nil {
				t.Fatalf("sidecar not in the root: %v", err)
			}
			if p, ts, err := v.Keys().SymlinkKey().NewCodec().Open(nil, tok); err != nil || string(p) != target || ts != 0 {
				t.Fatalf("sidecar is not the target's Fernet token: %v", err)
			}
			// Damage: a flipped byte, a sidecar of another long link, none.
			tok[100] ^= 1
			os.Chmod(side, 0o600)
			os.WriteFile(side, tok, 0o600)
			if _, err := v.DecryptSymlink(link); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("damaged sidecar: %v", err)
			}
			if err := v.ForgetSymlink(link); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(side); !os.IsNotExist(err) {
				t.Fatalf("ForgetSymlink left the sidecar: %v", err)
			}
			if _, err := v.DecryptSymlink(link); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("missing sidecar: %v", err)
			}
			// A short target's token stored as a long link is refused.
			short, _ := v.EncryptSymlink("short")
			alias := longLinkFor([]byte(short))
			os.WriteFile(filepath.Join(v.Dir(), alias), []byte(short), 0o400)
			if _, err := v.DecryptSymlink(alias); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("short target in long form: %v", err)
			}
		}
		unix.Unlinkat(sub.Fd(), b, 0)
	}
	for _, bad := range []string{LongLinkPrefix, LongLinkPrefix + "../../etc/passwd", LongLinkPrefix + strings.Repeat("A", 44)} {
		if _, err := v.DecryptSymlink(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecryptSymlink(%q) = %v", bad, err)
		}
	}
}

func readlinkTest(dirfd int, name string) (string, error) {
	buf := make([]byte, 8192)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
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
