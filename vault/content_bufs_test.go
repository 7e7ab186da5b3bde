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
// collections: one per class, and only one (the others are the
// sync.Pool's, which a collection may drop).
func TestBufPoolsKeptAcrossGC(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		kept bool
	}{{4 << 10, true}, {200 << 10, true}, {300 << 10, true}, {2 << 20, true}} {
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

// TestBufPoolsReleasedWhenIdle checks that a kept buffer is let go once
// its class has not been asked for in keptIdle, and not before, while
// another class in use keeps its own.
func TestBufPoolsReleasedWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for keptIdle")
	}
	var p bufPools
	used, idle := bufClass(1<<20), bufClass(8<<10)
	p.put(p.get(1 << 20))
	p.put(p.get(8 << 10))
	if p.kept[used].Load() == nil || p.kept[idle].Load() == nil {
		t.Fatal("buffers given back were not kept")
	}
	// Requests for one class every quarter of keptIdle keep its buffer
	// (a loaded machine oversleeping once does not release it) for
	// longer than keptIdle, while the other class's is let go.
	deadline := time.Now().Add(keptIdle + 5*time.Second)
	for p.kept[idle].Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("an idle class's buffer still kept %v after the last request for it", keptIdle+5*time.Second)
		}
		time.Sleep(keptIdle / 4)
		p.put(p.get(1 << 20))
	}
	if p.kept[used].Load() == nil {
		t.Fatal("a buffer was let go while its class was being asked for")
	}
	deadline = time.Now().Add(keptIdle + 5*time.Second)
	for p.kept[used].Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("buffer still kept %v after the last request for one", keptIdle+5*time.Second)
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

// TestFileKeyWorkersKept checks that a file key's idle chunk workers
// survive a garbage collection (a sync.Pool would drop them, and the next
// request would build a Codec again) and that at most Cores are kept.
func TestFileKeyWorkersKept(t *testing.T) {
	v := newTestVault(t, CreateOptions{})
	c, _ := newFileContent(t, v)
	fk := c.newFileKey()
	wk := c.worker(fk)
	c.putWorker(fk, wk)
	runtime.GC()
	runtime.GC()
	if got := c.worker(fk); got != wk {
		t.Errorf("after a collection the idle worker was not reused")
	} else {
		c.putWorker(fk, got)
	}
	var out []*chunkWorker
	for range Cores() + 2 {
		out = append(out, c.worker(fk))
	}
	for _, w := range out {
		c.putWorker(fk, w)
	}
	if n := len(fk.idle); n != Cores() {
		t.Errorf("%d idle workers kept, want Cores() = %d", n, Cores())
	}
}
