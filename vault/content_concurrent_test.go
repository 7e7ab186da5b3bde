package vault

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestContentConcurrent runs readers against a writer that rewrites the
// file a whole generation at a time or a chunk at a time. Every chunk a
// reader sees must hold one generation's bytes: a torn chunk means the
// lock let a read see a half-done read-modify-write. Run with -race.
func TestContentConcurrent(t *testing.T) {
	for _, cs := range contentChunkSizes {
		v := newTestVault(t, CreateOptions{ChunkSize: cs})
		c, _ := newFileContent(t, v)
		const chunks = 24
		size := chunks * cs
		mustWrite(t, c, bytes.Repeat([]byte{1}, size), 0)

		var wg sync.WaitGroup
		done := make(chan struct{})
		errs := make(chan string, 8)
		for reader := range 3 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(reader), 1))
				buf := make([]byte, size)
				for {
					select {
					case <-done:
						return
					default:
					}
					off := r.IntN(chunks) * cs
					n := cs * (1 + r.IntN(chunks-off/cs))
					if r.IntN(2) == 0 {
						off, n = 0, size
					}
					got, err := c.ReadAt(buf[:n], int64(off))
					if err != nil || got != n {
						errs <- err.Error()
						return
					}
					for k := 0; k < n; k += cs {
						ch := buf[k : k+cs]
						if bytes.Count(ch, ch[:1]) != cs {
							errs <- "torn chunk"
							return
						}
					}
				}
			})
		}
		r := rand.New(rand.NewPCG(42, uint64(cs)))
		for gen := 2; gen < 200; gen++ {
			if gen%3 == 0 {
				mustWrite(t, c, bytes.Repeat([]byte{byte(gen)}, size), 0)
			} else {
				i := r.IntN(chunks)
				mustWrite(t, c, bytes.Repeat([]byte{byte(gen)}, cs), int64(i*cs))
			}
		}
		close(done)
		wg.Wait()
		select {
		case e := <-errs:
			t.Fatalf("chunk %d: reader: %s", cs, e)
		default:
		}
		if err := c.Check(nil); err != nil {
			t.Fatal(err)
		}
	}
}
