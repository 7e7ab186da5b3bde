package vault

import "testing"

func TestBufPoolsClasses(t *testing.T) {
	var p bufPools
	for _, tc := range []struct{ n, cap int64 }{
		{0, 8 << 10}, {1, 8 << 10}, {8 << 10, 8 << 10}, {8<<10 + 1, 16 << 10},
		{5561, 8 << 10}, {178_000, 256 << 10}, {1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20}, {2 << 20, 2 << 20}, {2<<20 + 1, 2<<20 + 1},
	} {
		bp := p.get(tc.n)
		if int64(len(*bp)) != tc.n || int64(cap(*bp)) != tc.cap {
			t.Errorf("get(%d): len %d cap %d, want len %d cap %d", tc.n, len(*bp), cap(*bp), tc.n, tc.cap)
		}
		p.put(bp)
	}
	// A buffer given back serves a later request of its class at any length.
	bp := p.get(100 << 10)
	p.put(bp)
	if got := p.get(70 << 10); len(*got) != 70<<10 || cap(*got) != 128<<10 {
		t.Errorf("reused buffer: len %d cap %d", len(*got), cap(*got))
	}
}
