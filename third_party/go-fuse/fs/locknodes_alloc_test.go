// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import "testing"

// TestLockNodesNoAllocs checks that locking a parent and child, as every
// lookup and create does, allocates nothing, and still locks each node
// once when the same node is given twice.
func TestLockNodesNoAllocs(t *testing.T) {
	a, b := &Inode{}, &Inode{}
	if a := testing.AllocsPerRun(100, func() {
		lockNodes(a, b)
		unlockNodes(a, b)
	}); a != 0 {
		t.Errorf("%v allocations per lockNodes+unlockNodes, want 0", a)
	}
	lockNodes(b, a, b)
	if a.mu.TryLock() || b.mu.TryLock() {
		t.Fatal("a node is not locked after lockNodes")
	}
	unlockNodes(a, b, b)
	if !a.mu.TryLock() || !b.mu.TryLock() {
		t.Fatal("a node is still locked after unlockNodes")
	}
}
