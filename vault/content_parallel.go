package vault

import (
	"runtime"
	"sync"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

const (
	// parallelMinChunks is the fewest chunks worth spreading over
	// goroutines; below it the goroutine handoff costs more than it saves.
	parallelMinChunks = 4
)

// chunkWorker is one goroutine's state for chunk crypto: a Codec for the
// file's key and scratch room for a partial chunk. The Codec is per file
// key, but the memory (the scratch chunk and the Codec's token buffer)
// comes from the vault's pools while the worker is out, so a file that is
// opened, read once and closed allocates none.
type chunkWorker struct {
	cd      *fernet.Codec
	scratch []byte // a chunk + aesBlock bytes: Open needs room for the padding
	buf     *[]byte
	batch   *[]byte // room for fernet.SealBatch, lent by lendBatchRoom
}

// worker takes a chunkWorker from fk's pool, with its buffers; give it
// back with putWorker.
func (c *Content) worker(fk *fileKey) *chunkWorker {
	var wk *chunkWorker
	fk.mu.Lock()
	if n := len(fk.idle); n > 0 {
		wk = fk.idle[n-1]
		fk.idle[n-1] = nil
		fk.idle = fk.idle[:n-1]
	}
	fk.mu.Unlock()
	if wk == nil {
		wk = &chunkWorker{cd: fk.key.NewCodec()}
	}
	sc := c.lay.chunk + aesBlock
	raw := c.lay.tok / 4 * 3 // a chunk's decoded token
	wk.buf = c.bufs.get(sc + raw)
	wk.scratch = (*wk.buf)[:sc:sc]
	wk.cd.UseBuffer((*wk.buf)[sc:])
	return wk
}

// lendBatchRoom lends wk's Codec the decoded-token room SealBatch needs
// (fernet.Batch tokens), from the vault's pools until putWorker; workers
// that never seal a batch keep the room for one.
func (c *Content) lendBatchRoom(wk *chunkWorker) {
	if wk.batch == nil {
		wk.batch = c.bufs.get(fernet.Batch * (c.lay.tok / 4 * 3))
		wk.cd.UseBuffer(*wk.batch)
	}
}

// putWorker returns wk's buffers to the vault and wk to fk's pool.
func (c *Content) putWorker(fk *fileKey, wk *chunkWorker) {
	c.bufs.put(wk.buf)
	if wk.batch != nil {
		c.bufs.put(wk.batch)
		wk.batch = nil
	}
	wk.buf, wk.scratch = nil, nil
	wk.cd.UseBuffer(nil)
	fk.mu.Lock()
	if len(fk.idle) < fk.maxIdle {
		fk.idle = append(fk.idle, wk)
	}
	fk.mu.Unlock()
}

// chunkFn does chunk i, and may do some of the chunks after it up to
// runEnd (see forChunks). It returns how many chunks it did, or on
// failure how many it did before the one that failed.
type chunkFn func(wk *chunkWorker, i, runEnd int64) (int64, error)

// Cores is how many goroutines CPU-bound work is spread over: GOMAXPROCS,
// but no more than the CPUs the process may run on. The mount daemon
// runs with more Ps than CPUs (spare ones for the goroutines blocked
// reading the FUSE device); more decrypting goroutines than CPUs would
// only take turns.
func Cores() int { return min(runtime.GOMAXPROCS(0), runtime.NumCPU()) }

// forChunks calls fn for the chunk indexes in [lo, hi), spread over up to
// Cores goroutines, each with its own chunkWorker and a contiguous
// run of indexes [i, runEnd) that it visits in increasing order; a call
// may do several chunks of its run, and the next call starts after them.
// fn for one index must touch only that chunk's bytes, except that it may
// use bytes of later chunks of its own run as scratch (they are rewritten
// after). Each goroutine stops at its first error; forChunks returns the
// lowest failing index and its error, or -1 and nil.
func (c *Content) forChunks(fk *fileKey, lo, hi int64, fn chunkFn) (int64, error) {
	n := hi - lo
	if serialChunks(n) {
		wk := c.worker(fk)
		defer c.putWorker(fk, wk)
		return runChunks(wk, lo, hi, fn)
	}
	w := min(int64(Cores()), n/2)
	type result struct {
		idx int64
		err error
	}
	res := make([]result, w)
	per := (n + w - 1) / w
	run := func(k int64) {
		r := &res[k]
		wk := c.worker(fk)
		r.idx, r.err = runChunks(wk, lo+k*per, min(lo+(k+1)*per, hi), fn)
		c.putWorker(fk, wk)
	}
	var wg sync.WaitGroup
	for k := int64(1); k < w; k++ {
		wg.Go(func() { run(k) })
	}
	run(0)
	wg.Wait()
	for _, r := range res {
		if r.err != nil {
			return r.idx, r.err
		}
	}
	return -1, nil
}

// runChunks calls fn for the chunks in [i, end) in order on wk, and
// returns the first failing index and its error, or -1 and nil.
func runChunks(wk *chunkWorker, i, end int64, fn chunkFn) (int64, error) {
	for i < end {
		n, err := fn(wk, i, end)
		if err != nil {
			return i + n, err
		}
		i += n
	}
	return -1, nil
}

// serialChunks reports whether forChunks does n chunks on the calling
// goroutine alone: too few to pay for a handoff, or one CPU. Callers
// with a fast path for that case (a 4 KiB read or write) use it so that
// they build no closure for forChunks, which would escape to the heap.
func serialChunks(n int64) bool {
	return n < parallelMinChunks || min(int64(Cores()), n/2) < 2
}

// getBuf returns a pooled buffer of n bytes (contents undefined) from
// the vault's shared pools.
func (c *Content) getBuf(n int64) *[]byte { return c.bufs.get(n) }

// putBuf gives back a buffer from getBuf.
func (c *Content) putBuf(bp *[]byte) { c.bufs.put(bp) }
