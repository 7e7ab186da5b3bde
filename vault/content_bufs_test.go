package vault

import (
	"runtime"
	"testing"
	"time"
)

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

// TestBufPoolsKeptAcrossGC checks the buffers that survive garbage
// collections: one per class above 256 KiB, none of the smaller ones
// (those are the sync.Pool's, which a collection may drop).
func TestBufPoolsKeptAcrossGC(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		kept bool
	}{{4 << 10, false}, {200 << 10, false}, {300 << 10, true}, {2 << 20, true}} {
		var p bufPools
		k := bufClass(tc.n)
		given := map[*[]byte]bool{}
		var bufs []*[]byte
		for range 3 {
			bufs = append(bufs, p.get(tc.n))
		}
		for _, bp := range bufs {
			given[bp] = true
			p.put(bp)
		}
		// Two cycles: sync.Pool keeps a victim generation for one.
		runtime.GC()
		runtime.GC()
		bp := p.kept[k].Load()
		if kept := bp != nil && given[bp]; kept != tc.kept {
			t.Errorf("%d-byte class: a buffer kept across collections: %v, want %v", tc.n, kept, tc.kept)
		}
		if tc.kept {
			if got := p.get(tc.n); got != bp || len(*got) != int(tc.n) {
				t.Errorf("%d-byte class: get after collections did not return the kept buffer at the right length", tc.n)
			}
		}
	}
}

// TestBufPoolsLargeReleasedWhenIdle checks that a kept buffer is let go
// once no large buffer has been asked for in keptIdle, and not before.
func TestBufPoolsLargeReleasedWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for keptIdle")
	}
	var p bufPools
	large, other := bufClass(1<<20), bufClass(512<<10)
	p.put(p.get(1 << 20))
	p.put(p.get(512 << 10))
	if p.kept[large].Load() == nil || p.kept[other].Load() == nil {
		t.Fatal("large buffers given back were not kept")
	}
	// Asking for large buffers of one class keeps those of every class,
	// for longer than keptIdle in all. The requests come every quarter of
	// keptIdle so that a loaded machine oversleeping does not release them.
	for range 6 {
		time.Sleep(keptIdle / 4)
		p.put(p.get(1 << 20))
	}
	if p.kept[large].Load() == nil || p.kept[other].Load() == nil {
		t.Fatal("a buffer was let go while large buffers were being asked for")
	}
	deadline := time.Now().Add(keptIdle + 5*time.Second)
	for p.kept[large].Load() != nil || p.kept[other].Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("buffers still kept %v after the last request for one", keptIdle+5*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.releasing.Load() {
		t.Error("a release is still scheduled with nothing kept")
	}
}
