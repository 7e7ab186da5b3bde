package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"testing"
)

// TestCBCBatchMatchesStdlib checks the interleaved CBC lanes against
// crypto/cipher, one lane at a time, for every block count up to 40 and
// random longer ones, into separate buffers and in place.
func TestCBCBatchMatchesStdlib(t *testing.T) {
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		rng := rand.New(rand.NewPCG(11, 12))
		for it := range 80 {
			raw := randBytes(rng, 32)
			k, err := newKey(raw, f)
			if err != nil {
				t.Fatal(err)
			}
			c := k.NewCodec()
			block, _ := aes.NewCipher(raw[16:])
			n := it * BlockSize
			if it > 40 {
				n = rng.IntN(9001) / BlockSize * BlockSize
			}
			var l, inPlace cbcBatch
			var want [Batch][]byte
			for k := range Batch {
				l.src[k], l.iv[k] = randBytes(rng, n), randBytes(rng, BlockSize)
				l.dst[k] = make([]byte, n)
				want[k] = make([]byte, n)
				cipher.NewCBCEncrypter(block, l.iv[k]).CryptBlocks(want[k], l.src[k])
				inPlace.src[k] = bytes.Clone(l.src[k])
				inPlace.dst[k], inPlace.iv[k] = inPlace.src[k], l.iv[k]
			}
			ivs := l.iv
			c.cbcEncryptBatch(&l)
			c.cbcEncryptBatch(&inPlace)
			for k := range Batch {
				if !bytes.Equal(l.dst[k], want[k]) || !bytes.Equal(inPlace.dst[k], want[k]) {
					t.Fatalf("%d blocks: lane %d differs from crypto/cipher", n/BlockSize, k)
				}
				if !bytes.Equal(l.iv[k], ivs[k]) {
					t.Fatalf("lane %d: IV modified", k)
				}
			}
		}
	})
}

// TestSealBatchMatchesReference compares SealBatch with the reference
// token of every lane, on every path, for equal lengths (the interleaved
// path) around every block boundary up to 300 bytes and a 4 KiB chunk,
// and for unequal ones (sealed one by one); random IVs must open.
func TestSealBatchMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T, f cpuFeatures) {
		rng := rand.New(rand.NewPCG(13, 14))
		lengths := append(lengthsToTest(300), 4095, 4096, 4097, -1)
		for _, n := range lengths {
			raw32 := randBytes(rng, 32)
			k, err := newKey(raw32, f)
			if err != nil {
				t.Fatal(err)
			}
			c := k.NewCodec()
			var dst, plain, iv [Batch][]byte
			var ts [Batch]uint64
			for k := range Batch {
				m := n
				if n < 0 {
					m = rng.IntN(200) // unequal lengths
				}
				plain[k], iv[k], ts[k] = randBytes(rng, m), randBytes(rng, BlockSize), rng.Uint64()
				dst[k] = []byte("prefix")
			}
			c.SealBatch(&dst, &plain, &ts, &iv)
			for k := range Batch {
				if want := "prefix" + refSeal(raw32, plain[k], ts[k], iv[k]); string(dst[k]) != want {
					t.Fatalf("len %d: lane %d differs from the reference", n, k)
				}
			}
			var random [Batch][]byte
			c.SealBatch(&random, &plain, &ts, &[Batch][]byte{})
			for k := range Batch {
				got, gotTS, err := c.Open(nil, random[k])
				if err != nil || gotTS != ts[k] || !bytes.Equal(got, plain[k]) {
					t.Fatalf("len %d: lane %d with a random IV does not open: %v", n, k, err)
				}
				if k > 0 && bytes.Equal(random[k][:32], random[0][:32]) {
					t.Fatalf("len %d: lanes 0 and %d have the same IV", n, k)
				}
			}
		}
	})
}

// FuzzSealBatch seals eight plaintexts derived from plain (equal lengths
// unless uneven is set) with IVs derived from iv, on every path, and
// compares each token with the reference.
func FuzzSealBatch(f *testing.F) {
	f.Add([]byte("key"), []byte("iv"), []byte("plaintext"), uint64(1), false)
	f.Add(bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte("fernetfs"), 512), uint64(7), false)
	f.Add([]byte{}, []byte{}, []byte{}, uint64(0), true)
	paths := availablePaths()
	f.Fuzz(func(t *testing.T, key, iv, plain []byte, ts uint64, uneven bool) {
		raw32 := append(bytes.Clone(key), make([]byte, 32)...)[:32]
		iv = append(bytes.Clone(iv), make([]byte, 16)...)[:16]
		var plains, ivs [Batch][]byte
		var tss [Batch]uint64
		for k := range Batch {
			p := bytes.Clone(plain)
			if uneven {
				p = p[:len(p)*k/Batch]
			}
			for i := range p {
				p[i] += byte(k)
			}
			plains[k], tss[k] = p, ts+uint64(k)
			ivs[k] = bytes.Clone(iv)
			ivs[k][k] ^= 0x5a
		}
		for _, p := range paths {
			k, err := newKey(raw32, p)
			if err != nil {
				t.Fatal(err)
			}
			var dst [Batch][]byte
			k.NewCodec().SealBatch(&dst, &plains, &tss, &ivs)
			for l := range Batch {
				if want := refSeal(raw32, plains[l], tss[l], ivs[l]); string(dst[l]) != want {
					t.Fatalf("%s: lane %d differs from the reference", p, l)
				}
			}
		}
	})
}

// BenchmarkSealBatch4K seals Batch 4 KiB chunks per call on each path;
// ns/op divided by Batch compares with BenchmarkSeal4K.
func BenchmarkSealBatch4K(b *testing.B) {
	for _, f := range availablePaths() {
		b.Run(f.String(), func(b *testing.B) {
			k, _ := newKey(bytes.Repeat([]byte{7}, 32), f)
			c := k.NewCodec()
			var dst, plain [Batch][]byte
			var ts [Batch]uint64
			for k := range Batch {
				plain[k] = make([]byte, 4096)
				dst[k] = make([]byte, 0, 8192)
			}
			b.SetBytes(Batch * 4096)
			b.ReportAllocs()
			for b.Loop() {
				for k := range Batch {
					dst[k] = dst[k][:0]
					ts[k]++
				}
				c.SealBatch(&dst, &plain, &ts, &[Batch][]byte{})
			}
		})
	}
}
