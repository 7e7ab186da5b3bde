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

// TestIdentityTableOpenFiles opens files on many nodes, two on one of
// them, and closes them in another order: the handles of each node are
// its own throughout, and once all are closed the table of open files
// is empty and, having held many, made anew.
func TestIdentityTableOpenFiles(t *testing.T) {
	var tab mapIdentityTable
	tab.initIdentityTable(0, false)
	const n = 2000
	entries := make([]*nodeEntry, n)
	var fes []*fileEntry
	for i := range entries {
		id := StableAttr{Mode: syscall.S_IFREG, Ino: uint64(10 + i)}
		ino := &Inode{}
		initInode(ino, ino, id, nil, false, tab.allocateNodeID())
		_, e, _ := tab.registerNew(id, ino, false)
		entries[i] = e
		fes = append(fes, tab.registerFile(e, &reuseFileHandleStub{}, 0))
	}
	second := tab.registerFile(entries[0], &reuseFileHandleStub{}, 0)
	tab.mu.Lock()
	if fhs := tab.fhs(entries[0]); len(fhs) != 2 || fhs[0] != fes[0].fh || fhs[1] != second.fh {
		t.Errorf("node 0 has handles %v, want %d and %d", fhs, fes[0].fh, second.fh)
	}
	tab.mu.Unlock()
	if _, fe := tab.detachFile(entries[0].inode.Load().nodeId, uint64(fes[0].fh)); fe != fes[0] {
		t.Errorf("detached %p, want %p", fe, fes[0])
	}
	tab.mu.Lock()
	if fhs := tab.fhs(entries[0]); len(fhs) != 1 || fhs[0] != second.fh {
		t.Errorf("node 0 has handles %v after closing one, want %d", fhs, second.fh)
	}
	tab.mu.Unlock()
	tab.detachFile(entries[0].inode.Load().nodeId, uint64(second.fh))
	for i := n - 1; i > 0; i-- {
		if e, fe := tab.detachFile(entries[i].inode.Load().nodeId, uint64(fes[i].fh)); e != entries[i] || fe != fes[i] {
			t.Fatalf("node %d: detached %p %p", i, e, fe)
		}
	}
	if len(tab.openFiles) != 0 || tab.openFilesHigh != 0 {
		t.Errorf("after closing all: %d nodes with open files, high %d", len(tab.openFiles), tab.openFilesHigh)
	}
}

type reuseFileHandleStub struct{}
