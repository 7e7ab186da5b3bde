package vault

import (
	"bytes"
	"encoding/base64"
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
		k, err := ParseFernetKey(c.Secret)
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
func openWithTTL(k *FernetKey, token string, now uint64, ttl int64) ([]byte, error) {
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
		k, _ := ParseFernetKey(c.Secret)
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
			k, _ := ParseFernetKey(c.Secret)
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
	k, _ := NewFernetKey(bytes.Repeat([]byte{7}, 32))
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
	k, _ := NewFernetKey(bytes.Repeat([]byte{7}, 32))
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
	other, _ := NewFernetKey(bytes.Repeat([]byte{8}, 32))
	if _, _, err := other.NewCodec().Open(nil, tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("wrong key: %v", err)
	}
}

func FuzzOpenToken(f *testing.F) {
	k, _ := NewFernetKey(bytes.Repeat([]byte{7}, 32))
	c := k.NewCodec()
	f.Add(c.Seal(nil, []byte("seed"), 1, nil))
	f.Add(c.Seal(nil, nil, 0, nil))
	f.Add(c.Seal(nil, bytes.Repeat([]byte("fernetfs"), 100), 2, nil))
	f.Add([]byte("gAAAAA=="))
	var others []*Codec
	for _, feat := range featureSets() {
		o := k.NewCodec()
		o.cpu = feat
		others = append(others, o)
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		pt, ts, err := c.Open(nil, tok)
		// Every combination of assembly and portable paths agrees.
		for _, o := range others {
			pt2, ts2, err2 := o.Open(nil, tok)
			if (err == nil) != (err2 == nil) || !bytes.Equal(pt, pt2) || ts != ts2 {
				t.Fatalf("%+v: Open = %v, host %v", o.cpu, err2, err)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("error not ErrBadToken: %v", err)
			}
			return
		}
		// Anything accepted must be the one canonical encoding.
		iv := make([]byte, 16)
		raw, _ := base64.URLEncoding.Strict().DecodeString(string(tok))
		copy(iv, raw[9:25])
		if again := c.Seal(nil, pt, ts, iv); !bytes.Equal(again, tok) {
			t.Fatalf("accepted token is not canonical")
		}
	})
}

func benchChunk(b *testing.B, open bool) {
	k, _ := NewFernetKey(bytes.Repeat([]byte{7}, 32))
	c := k.NewCodec()
	pt := make([]byte, 4096)
	tok := c.Seal(nil, pt, 1, nil)
	dst := make([]byte, 0, 8192)
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if open {
			if _, _, err := c.Open(dst[:0], tok); err != nil {
				b.Fatal(err)
			}
		} else {
			c.Seal(dst[:0], pt, uint64(i), nil)
		}
	}
}

func BenchmarkSeal4K(b *testing.B) { benchChunk(b, false) }
func BenchmarkOpen4K(b *testing.B) { benchChunk(b, true) }
