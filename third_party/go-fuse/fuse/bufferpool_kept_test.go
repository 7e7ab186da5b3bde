package fuse

import (
	"runtime"
	"testing"
	"time"
)

// TestBufferPoolKeptClasses checks the power-of-two page classes: every
// buffer has the asked-for length and its class's capacity.
func TestBufferPoolKeptClasses(t *testing.T) {
	var p bufferPool
	for _, tc := range []struct{ size, pages int }{
		{0, 1}, {1, 1}, {pageSize, 1}, {pageSize + 1, 2}, {2 * pageSize, 2},
		{2*pageSize + 1, 4}, {33 * pageSize, 64}, {256 * pageSize, 256}, {256*pageSize + 1, 512},
	} {
		b := p.AllocBuffer(uint32(tc.size))
		if len(b) != tc.size || cap(b) != tc.pages*pageSize {
			t.Errorf("AllocBuffer(%d): len %d cap %d, want len %d cap %d", tc.size, len(b), cap(b), tc.size, tc.pages*pageSize)
		}
		p.FreeBuffer(b)
	}
	// A buffer not from the pool is ignored.
	p.FreeBuffer(make([]byte, 3*pageSize))
	if p.kept[pageClass(3)][0].Load() != nil && cap(*p.kept[pageClass(3)][0].Load()) != 4*pageSize {
		t.Error("a foreign buffer was kept")
	}
}

// TestBufferPoolKeptAcrossGC checks that buffers given back survive
// garbage collections, up to the number of slots of their class, and
// that AllocBuffer hands them out again.
func TestBufferPoolKeptAcrossGC(t *testing.T) {
	for _, pages := range []int{1, 3, 32, 256} {
		var p bufferPool
		k := pageClass(pages)
		size := uint32(pages * pageSize)
		var bufs [][]byte
		for i := 0; i < 4; i++ {
			bufs = append(bufs, p.AllocBuffer(size))
		}
		given := map[*byte]bool{}
		for _, b := range bufs {
			given[&b[0]] = true
			p.FreeBuffer(b)
		}
		// Two cycles: sync.Pool keeps a victim generation for one.
		runtime.GC()
		runtime.GC()
		n := 0
		for i := range p.kept[k] {
			if bp := p.kept[k][i].Load(); bp != nil {
				if !given[&(*bp)[0]] {
					t.Errorf("%d pages: a kept buffer that was not given back", pages)
				}
				n++
			}
		}
		if n != slots(k) {
			t.Errorf("%d pages: %d buffers kept across collections, want %d", pages, n, slots(k))
		}
		for i := 0; i < slots(k); i++ {
			b := p.AllocBuffer(size - 1)
			if !given[&b[:1][0]] || len(b) != int(size)-1 {
				t.Errorf("%d pages: AllocBuffer after collections did not return a kept buffer at the right length", pages)
			}
		}
	}
}

// TestBufferPoolKeptReleasedWhenIdle checks that a class's kept buffers
// are let go once it has not been asked for in keptIdle, and not before,
// while another class in use keeps its own.
func TestBufferPoolKeptReleasedWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for keptIdle")
	}
	var p bufferPool
	idle, used := pageClass(1), pageClass(256)
	p.FreeBuffer(p.AllocBuffer(uint32(pageSize)))
	p.FreeBuffer(p.AllocBuffer(uint32(256 * pageSize)))
	if p.kept[idle][0].Load() == nil || p.kept[used][0].Load() == nil {
		t.Fatal("buffers given back were not kept")
	}
	// Requests for one class every quarter of keptIdle keep its buffer
	// for longer than keptIdle, while the other class's is let go.
	deadline := time.Now().Add(keptIdle + 5*time.Second)
	for p.kept[idle][0].Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("an idle class's buffer still kept %v after the last request for it", keptIdle+5*time.Second)
		}
		time.Sleep(keptIdle / 4)
		p.FreeBuffer(p.AllocBuffer(uint32(256 * pageSize)))
	}
	if p.kept[used][0].Load() == nil {
		t.Fatal("a buffer was let go while its class was being asked for")
	}
	deadline = time.Now().Add(keptIdle + 5*time.Second)
	for p.kept[used][0].Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("buffer still kept %v after the last request", keptIdle+5*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// releaseIdle clears the flag just after the last store.
	for deadline := time.Now().Add(5 * time.Second); p.releasing.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a release is still scheduled with nothing kept")
		}
	}
}

// TestBufferPoolHeldNoAlloc checks that a reply buffer taken with
// allocHeld and given back with freeHeld (as every request with a reply
// payload does) allocates nothing once its class holds a buffer, and
// comes back at the asked-for length.
func TestBufferPoolHeldNoAlloc(t *testing.T) {
	var p bufferPool
	p.freeHeld(p.allocHeld(uint32(pageSize)))
	allocs := testing.AllocsPerRun(100, func() {
		bp := p.allocHeld(uint32(pageSize - 100))
		if len(*bp) != pageSize-100 {
			t.Fatalf("allocHeld: len %d, want %d", len(*bp), pageSize-100)
		}
		p.freeHeld(bp)
	})
	if allocs != 0 {
		t.Errorf("allocHeld and freeHeld of a kept buffer: %v allocations, want 0", allocs)
	}
}
