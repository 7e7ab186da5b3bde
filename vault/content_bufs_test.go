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
// collections: two per class up to 256 KiB, one per larger class, and
// no more (the rest are the sync.Pool's, which a collection may drop).
func TestBufPoolsKeptAcrossGC(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		kept int
	}{{4 << 10, 2}, {200 << 10, 2}, {300 << 10, 1}, {2 << 20, 1}} {
		var p bufPools
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
		kept := 0
		slots := p.keptSlots(bufClass(tc.n))
		for i := range slots {
			if bp := slots[i].Load(); bp != nil && given[bp] {
				kept++
			}
		}
		if kept != tc.kept {
			t.Errorf("%d-byte class: %d buffers kept across collections, want %d", tc.n, kept, tc.kept)
		}
		for i := range tc.kept {
			if bp := p.get(tc.n); !given[bp] || len(*bp) != int(tc.n) {
				t.Errorf("%d-byte class: get %d after collections did not return a kept buffer of the right length", tc.n, i)
			}
		}
	}
}

// TestBufPoolsLargeReleasedWhenIdle checks that a kept large buffer is
// let go once no large buffer has been asked for in keptIdle, while the
// small ones stay.
func TestBufPoolsLargeReleasedWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for keptIdle")
	}
	var p bufPools
	large, small := bufClass(1<<20), bufClass(4<<10)
	p.put(p.get(1 << 20))
	p.put(p.get(4 << 10))
	if p.kept[large][0].Load() == nil || p.kept[small][0].Load() == nil {
		t.Fatal("buffers given back were not kept")
	}
	// Asking for large buffers keeps the large one.
	for range 3 {
		time.Sleep(keptIdle / 2)
		p.put(p.get(1 << 20))
	}
	if p.kept[large][0].Load() == nil {
		t.Fatal("large buffer let go while large buffers were being asked for")
	}
	deadline := time.Now().Add(keptIdle + 5*time.Second)
	for p.kept[large][0].Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("large buffer still kept %v after the last request for one", keptIdle+5*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.kept[small][0].Load() == nil {
		t.Error("small buffer let go with the large ones")
	}
	if p.releasing.Load() {
		t.Error("a release is still scheduled with nothing kept")
	}
}
