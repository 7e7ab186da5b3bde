package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHeaderCreatedBy: the optional created_by member is stored, kept by
// passwd, covered by the MAC (changed, removed or added, it is
// tampering), and held to printable ASCII of bounded length.
func TestHeaderCreatedBy(t *testing.T) {
	dir := t.TempDir()
	const by = "fernetfs v1.2.3 (git 0123abcd)"
	v, _, err := Create(dir, []byte("pw"), CreateOptions{Iterations: testIterations, CreatedBy: by})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ChangePassword([]byte("pw"), 0); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(dir)
	if err != nil || h.CreatedBy != by {
		t.Fatalf("created_by after passwd: %q, %v", h.CreatedBy, err)
	}
	if _, err := Unlock(dir, Credential{Password: []byte("pw")}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, HeaderName)
	orig, _ := os.ReadFile(path)
	if !strings.Contains(string(orig), `"created_by": "`+by+`"`) {
		t.Fatalf("header lacks the created_by member:\n%s", orig)
	}
	write := func(s string) {
		os.Chmod(path, 0o600)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	member := `  "created_by": "` + by + `",` + "\n"
	cases := []struct {
		name string
		edit string
		want error
	}{
		{"changed", strings.Replace(string(orig), "v1.2.3", "v1.2.4", 1), ErrHeaderTampered},
		{"removed", strings.Replace(string(orig), member, "", 1), ErrHeaderTampered},
		{"control character", strings.Replace(string(orig), "v1.2.3", `v1.2.3\u001b[2J`, 1), ErrMalformedHeader},
		{"too long", strings.Replace(string(orig), "v1.2.3", strings.Repeat("v", MaxCreatedByLen), 1), ErrMalformedHeader},
		{"wrong type", strings.Replace(string(orig), `"`+by+`"`, "7", 1), ErrMalformedHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			write(c.edit)
			if _, err := Unlock(dir, Credential{Password: []byte("pw")}); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}

	// A vault made without it has no member; adding one is tampering.
	dir2 := t.TempDir()
	if _, _, err := Create(dir2, []byte("pw"), CreateOptions{Iterations: testIterations}); err != nil {
		t.Fatal(err)
	}
	path2 := filepath.Join(dir2, HeaderName)
	plain, _ := os.ReadFile(path2)
	if strings.Contains(string(plain), "created_by") {
		t.Fatalf("empty CreatedBy written:\n%s", plain)
	}
	os.Chmod(path2, 0o600)
	os.WriteFile(path2, []byte(strings.Replace(string(plain), `"mac"`, `"created_by": "x", "mac"`, 1)), 0o600)
	if _, err := Unlock(dir2, Credential{Password: []byte("pw")}); !errors.Is(err, ErrHeaderTampered) {
		t.Fatalf("added created_by: %v", err)
	}

	if _, _, err := Create(t.TempDir(), []byte("pw"), CreateOptions{Iterations: testIterations, CreatedBy: "a\nb"}); err == nil {
		t.Fatal("Create accepted a created_by with a newline")
	}
}
