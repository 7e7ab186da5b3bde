package vault

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// TestContentBatchSealMatchesChunkWrites writes ranges long enough for
// fernet.SealBatch (runs of full chunks, with partial ends, over and past
// an existing file) and checks that the backing bytes are exactly those
// of the same plaintext written one chunk at a time, which seals every
// chunk alone; chunk i's token depends only on its index, plaintext and
// finality when the file ID and IVs are fixed. Run on one CPU and on
// several, so that both the serial loop and forChunks' runs batch.
func TestContentBatchSealMatchesChunkWrites(t *testing.T) {
	const chunk = 64
	b := int64(fernet.Batch)
	cases := []struct{ base, off, n int64 }{
		{0, 0, b * chunk},
		{0, 0, (b+1)*chunk - 1},
		{0, 0, 3*b*chunk + 17},
		{5 * chunk, 0, 2 * b * chunk},                     // over a short file, growing it
		{40 * chunk, 3, 2*b*chunk + 5},                    // partial first and last chunks in place
		{40*chunk + 7, 30 * chunk, 2 * b * chunk},         // over the old last chunk
		{10*chunk + 9, 12*chunk + 1, b*chunk + chunk - 2}, // past the end, leaving a hole
		{3 * b * chunk, b * chunk, b * chunk},             // exactly one batch in place
		{40 * chunk, 40 * chunk, 2 * b * chunk},           // an append ending in a full last chunk
	}
	for _, procs := range []int{1, 2} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("procs%d/base%d/off%d/n%d", procs, tc.base, tc.off, tc.n), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				rng := rand.New(rand.NewPCG(uint64(tc.base), uint64(tc.off)))
				base, p := make([]byte, tc.base), make([]byte, tc.n)
				fillRandom(rng, base)
				fillRandom(rng, p)
				got, _ := goldenContent(t, chunk, func(c *Content) []byte {
					if len(base) > 0 {
						mustWrite(t, c, base, 0)
					}
					mustWrite(t, c, p, tc.off)
					return nil
				})
				final := make([]byte, max(tc.base, tc.off+tc.n))
				copy(final, base)
				copy(final[tc.off:], p)
				ref, _ := goldenContent(t, chunk, func(c *Content) []byte {
					for i := int64(0); i < int64(len(final)); i += chunk {
						piece := final[i:min(i+chunk, int64(len(final)))]
						if i >= tc.base && i+int64(len(piece)) <= tc.off {
							continue // a hole in the batched file too
						}
						mustWrite(t, c, piece, i)
					}
					return nil
				})
				if !bytes.Equal(got, ref) {
					t.Fatalf("backing bytes differ from the file written chunk by chunk")
				}
			})
		}
	}
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}
