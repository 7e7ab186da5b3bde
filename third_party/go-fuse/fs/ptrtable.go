// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import "math/bits"

// ptrTable is a hash table of pointers to E, each found by a uint64 key
// that key derives from the pointed-to value (an Inode's number, a
// nodeEntry's node ID). It holds one word per slot, where a
// map[uint64]*E holds a key, a value and a control byte; it keeps half
// to three quarters of its slots used as it grows, and shrinks to half
// once fewer than a quarter are (Go maps: seven eighths at most, often
// half): 11-16 bytes per entry instead of about 24 for the node tables,
// which have an entry for every node the kernel knows.
//
// Open addressing with linear probing; the slot of a key is its
// multiplicative hash scaled to the table size, so sizes need not be
// powers of two; deletion shifts the entries that follow back, so there
// are no tombstones. Not safe for concurrent use.
type ptrTable[E any] struct {
	slots []*E
	n     int
	key   func(*E) uint64
}

// minPtrTable is the smallest size a table shrinks to.
const minPtrTable = 16

func newPtrTable[E any](key func(*E) uint64) ptrTable[E] {
	return ptrTable[E]{key: key}
}

// home is the slot where the probe for k starts.
func (t *ptrTable[E]) home(k uint64) int {
	hi, _ := bits.Mul64(k*0x9E3779B97F4A7C15, uint64(len(t.slots)))
	return int(hi)
}

func (t *ptrTable[E]) next(i int) int {
	i++
	if i == len(t.slots) {
		return 0
	}
	return i
}

// find returns the slot holding key k, or the empty slot where the probe
// for it ended, and whether k was found.
func (t *ptrTable[E]) find(k uint64) (int, bool) {
	for i := t.home(k); ; i = t.next(i) {
		e := t.slots[i]
		if e == nil {
			return i, false
		}
		if t.key(e) == k {
			return i, true
		}
	}
}

// get returns the entry with key k, nil if there is none.
func (t *ptrTable[E]) get(k uint64) *E {
	if t.n == 0 {
		return nil
	}
	i, ok := t.find(k)
	if !ok {
		return nil
	}
	return t.slots[i]
}

// put stores e, replacing the entry with the same key if there is one.
func (t *ptrTable[E]) put(e *E) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minPtrTable, len(t.slots)*3/2))
	}
	i, ok := t.find(t.key(e))
	if !ok {
		t.n++
	}
	t.slots[i] = e
}

// del removes the entry with key k, if there is one.
func (t *ptrTable[E]) del(k uint64) {
	if t.n == 0 {
		return
	}
	i, ok := t.find(k)
	if !ok {
		return
	}
	t.slots[i] = nil
	t.n--
	// Move back each following entry of the run whose probe passes the
	// hole, so that no probe ends early at it.
	size := len(t.slots)
	for j := t.next(i); t.slots[j] != nil; j = t.next(j) {
		h := t.home(t.key(t.slots[j]))
		if (i-h+size)%size < (j-h+size)%size {
			t.slots[i], t.slots[j] = t.slots[j], nil
			i = j
		}
	}
	if len(t.slots) > minPtrTable && t.n*4 < len(t.slots) {
		t.resize(max(minPtrTable, t.n*2))
	}
}

func (t *ptrTable[E]) len() int {
	return t.n
}

// all returns the entries, in no particular order.
func (t *ptrTable[E]) all() []*E {
	out := make([]*E, 0, t.n)
	for _, e := range t.slots {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// resize moves the entries into a table of size slots.
func (t *ptrTable[E]) resize(size int) {
	old := t.slots
	t.slots = make([]*E, size)
	for _, e := range old {
		if e != nil {
			i, _ := t.find(t.key(e))
			t.slots[i] = e
		}
	}
}
