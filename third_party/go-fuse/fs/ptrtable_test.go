// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import (
	"math/rand"
	"testing"
)

type ptrTableItem struct{ k, v uint64 }

// TestPtrTable runs random puts, replacements and deletions on a
// ptrTable and a map side by side, through growth and shrinking, with
// keys both sequential (as node IDs are) and random, and checks that
// they agree and that the table's load stays in bounds.
func TestPtrTable(t *testing.T) {
	for _, seq := range []bool{true, false} {
		rng := rand.New(rand.NewSource(1))
		tab := newPtrTable(func(e *ptrTableItem) uint64 { return e.k })
		ref := map[uint64]*ptrTableItem{}
		var keys []uint64
		nextKey := uint64(2)
		newKey := func() uint64 {
			if seq {
				nextKey++
				return nextKey
			}
			return uint64(rng.Int63n(1 << 20))
		}
		check := func(step int) {
			if tab.len() != len(ref) {
				t.Fatalf("seq %v step %d: len %d, want %d", seq, step, tab.len(), len(ref))
			}
			if len(tab.slots) > minPtrTable && (tab.n*4 < len(tab.slots) || tab.n*4 > len(tab.slots)*3) {
				t.Fatalf("seq %v step %d: %d entries in %d slots", seq, step, tab.n, len(tab.slots))
			}
		}
		for step := 0; step < 200000; step++ {
			// Grow to about 20,000 entries, then shrink to none.
			grow := step < 100000
			switch r := rng.Intn(10); {
			case r < 6 && grow || r < 3:
				k := newKey()
				e := &ptrTableItem{k, uint64(step)}
				if _, ok := ref[k]; !ok {
					keys = append(keys, k)
				}
				tab.put(e)
				ref[k] = e
			case len(keys) > 0:
				i := rng.Intn(len(keys))
				k := keys[i]
				keys[i] = keys[len(keys)-1]
				keys = keys[:len(keys)-1]
				tab.del(k)
				delete(ref, k)
				tab.del(k) // deleting a missing key does nothing
			}
			if step%997 == 0 {
				check(step)
				for k, e := range ref {
					if got := tab.get(k); got != e {
						t.Fatalf("seq %v step %d: get(%d) = %v, want %v", seq, step, k, got, e)
					}
				}
				if got := tab.get(1 << 30); got != nil {
					t.Fatalf("get of a missing key: %v", got)
				}
				if all := tab.all(); len(all) != len(ref) {
					t.Fatalf("all: %d entries, want %d", len(all), len(ref))
				}
			}
		}
		for _, k := range keys {
			tab.del(k)
			delete(ref, k)
		}
		check(-1)
		if len(tab.slots) > minPtrTable {
			t.Errorf("seq %v: empty table has %d slots", seq, len(tab.slots))
		}
	}
}
