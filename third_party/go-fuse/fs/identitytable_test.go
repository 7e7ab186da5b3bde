// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import (
	"syscall"
	"testing"
)

// TestIdentityTableSharedIno registers two identities with one inode
// number (a file replaced under a recycled number while the kernel
// still knows the old one): the newer is found, the older is not found
// under the new identity, and forgetting either drops its own node ID
// and no other.
func TestIdentityTableSharedIno(t *testing.T) {
	var tab mapIdentityTable
	tab.initIdentityTable(0, false)
	oldID := StableAttr{Mode: syscall.S_IFREG, Ino: 5, Gen: 1}
	newID := StableAttr{Mode: syscall.S_IFREG, Ino: 5, Gen: 2}
	older, newer := &Inode{}, &Inode{}
	initInode(older, older, oldID, nil, false, tab.allocateNodeID())
	initInode(newer, newer, newID, nil, false, tab.allocateNodeID())
	if w, _, _ := tab.registerNew(oldID, older, false); w != older {
		t.Fatalf("registered %p, want the older %p", w, older)
	}
	if got := tab.findByAttr(oldID); got != older {
		t.Fatalf("find older = %p", got)
	}
	if got := tab.findByAttr(StableAttr{Mode: syscall.S_IFDIR, Ino: 5, Gen: 1}); got != nil {
		t.Errorf("found %p under another mode", got)
	}
	if w, _, _ := tab.registerNew(newID, newer, false); w != newer {
		t.Fatalf("registered %p, want the newer %p", w, newer)
	}
	if got := tab.findByAttr(newID); got != newer {
		t.Errorf("find newer = %p", got)
	}
	tab.forget(older)
	if tab.nodes.get(older.nodeId) != nil {
		t.Error("older node ID still registered after forget")
	}
	if got := tab.findByAttr(newID); got != newer {
		t.Errorf("after forgetting the older, find newer = %p", got)
	}
	if tab.nodes.get(newer.nodeId) == nil {
		t.Error("newer node ID dropped with the older")
	}
	tab.forget(newer)
	if tab.nodes.len() != 0 || tab.stableAttrs.len() != 0 {
		t.Errorf("after forgetting both: %d node IDs, %d identities", tab.nodes.len(), tab.stableAttrs.len())
	}
}
