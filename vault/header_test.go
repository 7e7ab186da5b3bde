package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testIterations keeps PBKDF2 cheap in tests; production uses 600,000.
const testIterations = 1000

func newTestVault(t testing.TB, opts CreateOptions) *Vault {
	t.Helper()
	if opts.Iterations == 0 {
		opts.Iterations = testIterations
	}
	v, _, err := Create(t.TempDir(), []byte("pw"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCreateUnlock(t *testing.T) {
	dir := t.TempDir()
	v, rk, err := Create(dir, []byte("secret"), CreateOptions{Iterations: testIterations})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, HeaderName))
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Fatalf("header mode: %v %v", st, err)
	}
	v2, err := Unlock(dir, Credential{Password: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	if v2.keys.master != v.keys.master {
		t.Fatal("different master key after unlock")
	}
	if _, err := Unlock(dir, Credential{Password: []byte("nope")}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	v3, err := Unlock(dir, Credential{RecoveryKey: strings.ToLower(rk)})
	if err != nil || v3.keys.master != v.keys.master {
		t.Fatalf("recovery key unlock: %v", err)
	}
	bad := []byte(rk)
	bad[0] ^= 1
	if _, err := Unlock(dir, Credential{RecoveryKey: string(bad)}); !errors.Is(err, ErrBadRecoveryKey) {
		t.Fatalf("typo in recovery key: %v", err)
	}
	if _, _, err := Create(dir, []byte("x"), CreateOptions{}); err == nil {
		t.Fatal("Create on a non-empty dir succeeded")
	}
}

func TestPasswd(t *testing.T) {
	dir := t.TempDir()
	v, rk, err := Create(dir, []byte("old"), CreateOptions{Iterations: testIterations})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ChangePassword([]byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Unlock(dir, Credential{Password: []byte("old")}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password still works: %v", err)
	}
	if _, err := Unlock(dir, Credential{Password: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if _, err := Unlock(dir, Credential{RecoveryKey: rk}); err != nil {
		t.Fatalf("recovery key after passwd: %v", err)
	}
	bak, err := os.ReadFile(filepath.Join(dir, HeaderBackupName))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(bak)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.unwrapPassword([]byte("old")); err != nil {
		t.Fatalf("backup header does not open with old password: %v", err)
	}
}

func TestHeaderErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Unlock(dir, Credential{Password: []byte("x")}); !errors.Is(err, ErrNotVault) {
		t.Fatalf("missing header: %v", err)
	}
	if _, _, err := Create(dir, []byte("pw"), CreateOptions{Iterations: testIterations}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, HeaderName)
	orig, _ := os.ReadFile(path)
	write := func(s string) {
		os.Chmod(path, 0o600)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		edit func(string) string
		want error
	}{
		{"malformed json", func(s string) string { return s[:len(s)/2] }, ErrMalformedHeader},
		{"unknown field", func(s string) string { return strings.Replace(s, "{", `{"extra": 1,`, 1) }, ErrMalformedHeader},
		{"unknown feature", func(s string) string {
			return strings.Replace(s, `"encrypted-names"`, `"encrypted-names", "zzz-new"`, 1)
		}, ErrUnsupported},
		{"future format", func(s string) string { return strings.Replace(s, `"format": 1`, `"format": 2`, 1) }, ErrUnsupported},
		{"tampered chunk size", func(s string) string { return strings.Replace(s, `"chunk_size": 4096`, `"chunk_size": 8192`, 1) }, ErrHeaderTampered},
		{"tampered iterations", func(s string) string {
			return strings.Replace(s, `"iterations": 1000`, `"iterations": 1000 `, 1)
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			write(c.edit(string(orig)))
			_, err := Unlock(dir, Credential{Password: []byte("pw")})
			if c.want == nil {
				if err != nil {
					t.Fatalf("whitespace change rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	dir := f.TempDir()
	Create(dir, []byte("pw"), CreateOptions{Iterations: testIterations, CreatedBy: "fernetfs test"})
	good, _ := os.ReadFile(filepath.Join(dir, HeaderName))
	f.Add(good)
	frozen := frozenHeader(f)
	f.Add([]byte(frozen))
	f.Add([]byte(frozen + "}"))
	f.Add([]byte(strings.Replace(frozen, `"chunk_size": 4096`, `"chunk_size": 4096, "chunk_size": 4096`, 1)))
	f.Add([]byte(strings.Replace(frozen, `"salt"`, `"Salt"`, 1)))
	f.Add([]byte("{}"))
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if _, err := ParseHeader(h.marshal()); err != nil {
			t.Fatalf("re-marshalled valid header rejected: %v", err)
		}
	})
}
