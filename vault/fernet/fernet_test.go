package fernet

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
)

type specCase struct {
	Desc   string `json:"desc"`
	Token  string `json:"token"`
	Now    string `json:"now"`
	TTL    int64  `json:"ttl_sec"`
	Src    string `json:"src"`
	Secret string `json:"secret"`
	IV     []byte `json:"-"`
	IVInts []int  `json:"iv"`
}

func loadSpec(t *testing.T, name string) []specCase {
	t.Helper()
	b, err := os.ReadFile("testdata/fernet-spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var cs []specCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		for _, v := range cs[i].IVInts {
			cs[i].IV = append(cs[i].IV, byte(v))
		}
	}
	return cs
}

func specNow(t *testing.T, s string) uint64 {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(tm.Unix())
}

func TestFernetSpecGenerate(t *testing.T) {
	for _, c := range loadSpec(t, "generate.json") {
		k, err := ParseKey(c.Secret)
		if err != nil {
			t.Fatal(err)
		}
		got := k.NewCodec().Seal(nil, []byte(c.Src), specNow(t, c.Now), c.IV)
		if string(got) != c.Token {
			t.Errorf("Seal = %s, want %s", got, c.Token)
		}
	}
}

// openWithTTL applies the spec's TTL rules on top of Open, which itself
// never looks at the clock (fernetfs uses the timestamp for chunk indexes).
func openWithTTL(k *Key, token string, now uint64, ttl int64) ([]byte, error) {
	pt, ts, err := k.NewCodec().Open(nil, []byte(token))
	if err != nil {
		return nil, err
	}
	if int64(ts) > int64(now)+60 || int64(ts)+ttl < int64(now) {
		return nil, errors.New("timestamp outside TTL window")
	}
	return pt, nil
}

func TestFernetSpecVerify(t *testing.T) {
	for _, c := range loadSpec(t, "verify.json") {
		k, _ := ParseKey(c.Secret)
		pt, err := openWithTTL(k, c.Token, specNow(t, c.Now), c.TTL)
		if err != nil || string(pt) != c.Src {
			t.Errorf("verify: %q, %v; want %q", pt, err, c.Src)
		}
	}
}

func TestFernetSpecInvalid(t *testing.T) {
	ttlOnly := map[string]bool{"far-future TS (unacceptable clock skew)": true, "expired TTL": true}
	for _, c := range loadSpec(t, "invalid.json") {
		t.Run(c.Desc, func(t *testing.T) {
			k, _ := ParseKey(c.Secret)
			if _, err := openWithTTL(k, c.Token, specNow(t, c.Now), c.TTL); err == nil {
				t.Fatalf("accepted invalid token")
			}
			_, _, err := k.NewCodec().Open(nil, []byte(c.Token))
			if ttlOnly[c.Desc] {
				if err != nil {
					t.Fatalf("TTL-only case rejected without TTL: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("Open error %v, want ErrBadToken", err)
			}
		})
	}
}

func TestFernetRoundTripSizes(t *testing.T) {
	k, _ := NewKey(bytes.Repeat([]byte{7}, 32))
	c := k.NewCodec()
	for n := 0; n < 70; n++ {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		tok := c.Seal(nil, pt, uint64(n), nil)
		if len(tok) != TokenLen(n) {
			t.Fatalf("len %d: token %d bytes, TokenLen %d", n, len(tok), TokenLen(n))
		}
		got, ts, err := c.Open(nil, tok)
		if err != nil || !bytes.Equal(got, pt) || ts != uint64(n) {
			t.Fatalf("len %d: %v %v", n, err, ts)
		}
	}
}

func TestFernetRejects(t *testing.T) {
	k, _ := NewKey(bytes.Repeat([]byte{7}, 32))
	c := k.NewCodec()
	tok := c.Seal(nil, []byte("hello world"), 5, nil)
	for i := range tok {
		bad := bytes.Clone(tok)
		bad[i] ^= 1
		if _, _, err := c.Open(nil, bad); err == nil {
			t.Fatalf("flip at %d accepted", i)
		}
	}
	withNL := append(append([]byte{}, tok[:8]...), append([]byte("\n"), tok[8:]...)...)
	if _, _, err := c.Open(nil, withNL); !errors.Is(err, ErrBadToken) {
		t.Fatalf("token with newline: %v", err)
	}
	other, _ := NewKey(bytes.Repeat([]byte{8}, 32))
	if _, _, err := other.NewCodec().Open(nil, tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("wrong key: %v", err)
	}
}

// benchChunk seals or opens a 4 KiB chunk, the content's default, on
// each CPU path: the figures bench/README.md compares.
func benchChunk(b *testing.B, open bool) {
	for _, f := range availablePaths() {
		b.Run(f.String(), func(b *testing.B) {
			k, _ := newKey(bytes.Repeat([]byte{7}, 32), f)
			c := k.NewCodec()
			pt := make([]byte, 4096)
			tok := c.Seal(nil, pt, 1, nil)
			dst := make([]byte, 0, 8192)
			b.SetBytes(4096)
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				if open {
					if _, _, err := c.Open(dst[:0], tok); err != nil {
						b.Fatal(err)
					}
				} else {
					c.Seal(dst[:0], pt, i, nil)
				}
				i++
			}
		})
	}
}

func BenchmarkSeal4K(b *testing.B) { benchChunk(b, false) }
func BenchmarkOpen4K(b *testing.B) { benchChunk(b, true) }
