package vault

import (
	"errors"
	"math"
	"testing"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

func TestLayoutKnownValues(t *testing.T) {
	if got := fernet.TokenLen(4096); got != 5560 {
		t.Fatalf("fernet.TokenLen(4096) = %d, want 5560", got)
	}
	if fileHeaderLen != 45 {
		t.Fatalf("header line is %d bytes, want 45", fileHeaderLen)
	}
	cases := []struct {
		plain, backing int64
		chunk          int
	}{
		{0, 0, 4096},
		{1, 45 + 100 + 15, 4096},
		{15, 45 + 100 + 1, 4096},
		{16, 45 + 120 + 16, 4096},
		{4096, 45 + 5560 + 16, 4096},
		{4097, 45 + 5561 + 100 + 15, 4096},
		{3 * 4096, 45 + 2*5561 + 5560 + 16, 4096},
		{64, 45 + 184 + 16, 64},
		{65, 45 + 185 + 100 + 15, 64},
	}
	for _, c := range cases {
		if got := BackingSize(c.plain, c.chunk); got != c.backing {
			t.Errorf("BackingSize(%d, %d) = %d, want %d", c.plain, c.chunk, got, c.backing)
		}
		if got, err := PlainSize(c.backing, c.chunk); err != nil || got != c.plain {
			t.Errorf("PlainSize(%d, %d) = %d, %v; want %d", c.backing, c.chunk, got, err, c.plain)
		}
	}
}

// TestPlainSizeInverse checks, for every backing size up to a bound, that
// PlainSize accepts exactly the sizes BackingSize produces and inverts it.
func TestPlainSizeInverse(t *testing.T) {
	for _, chunk := range []int{64, 80, 128, 4096, 4112} {
		lay := newLayout(chunk)
		// Every file whose last chunk index is >= 7 is longer than
		// lineOff(7), so sizes below it come from plaintexts up to 7 chunks.
		maxPlain := int64(7 * chunk)
		valid := map[int64]int64{}
		for p := int64(0); p <= maxPlain; p++ {
			s := BackingSize(p, chunk)
			if _, dup := valid[s]; dup {
				t.Fatalf("chunk %d: BackingSize(%d) = %d collides", chunk, p, s)
			}
			valid[s] = p
			if p > 0 && s <= int64(fileHeaderLen) {
				t.Fatalf("chunk %d: BackingSize(%d) = %d", chunk, p, s)
			}
		}
		for s := int64(0); s < lay.lineOff(7); s++ {
			got, err := PlainSize(s, chunk)
			want, ok := valid[s]
			switch {
			case ok && (err != nil || got != want):
				t.Fatalf("chunk %d: PlainSize(%d) = %d, %v; want %d", chunk, s, got, err, want)
			case !ok && err == nil:
				t.Fatalf("chunk %d: PlainSize(%d) = %d accepted a size BackingSize never gives", chunk, s, got)
			case !ok && !errors.Is(err, ErrCorrupt):
				t.Fatalf("chunk %d: PlainSize(%d) error %v does not wrap ErrCorrupt", chunk, s, err)
			}
		}
	}
}

func TestPlainSizeLarge(t *testing.T) {
	for _, chunk := range []int{MinChunkSize, DefaultChunkSize, MaxChunkSize} {
		lay := newLayout(chunk)
		for _, p := range []int64{1 << 30, 10 << 30, 1<<40 + 17, lay.maxPlain - 1, lay.maxPlain} {
			s := BackingSize(p, chunk)
			if s <= 0 {
				t.Fatalf("chunk %d: BackingSize(%d) = %d overflowed", chunk, p, s)
			}
			if got, err := PlainSize(s, chunk); err != nil || got != p {
				t.Fatalf("chunk %d: PlainSize(BackingSize(%d)) = %d, %v", chunk, p, got, err)
			}
		}
	}
	if _, err := PlainSize(math.MaxInt64, 4096); err != nil {
		// Either answer is fine as long as it does not panic; a result
		// must round-trip.
		if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	}
	if _, err := PlainSize(-5, 4096); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative size: %v", err)
	}
	if _, err := PlainSize(100, 100); err == nil {
		t.Fatal("invalid chunk size accepted")
	}
}

func FuzzPlainSize(f *testing.F) {
	f.Add(int64(0), uint16(4096))
	f.Add(int64(160), uint16(4096))
	f.Add(int64(5621), uint16(4096))
	f.Add(int64(45), uint16(64))
	f.Add(int64(math.MaxInt64), uint16(64))
	f.Add(int64(-1), uint16(17))
	f.Fuzz(func(t *testing.T, s int64, cs uint16) {
		chunk := int(cs)
		p, err := PlainSize(s, chunk)
		if checkChunkSize(chunk) != nil {
			if err == nil {
				t.Fatalf("invalid chunk size %d accepted", chunk)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("PlainSize(%d, %d): unclassified error %v", s, chunk, err)
			}
			return
		}
		if p < 0 || p > s {
			t.Fatalf("PlainSize(%d, %d) = %d", s, chunk, p)
		}
		if back := BackingSize(p, chunk); back != s {
			t.Fatalf("BackingSize(PlainSize(%d)) = %d (plain %d, chunk %d)", s, back, p, chunk)
		}
	})
}
