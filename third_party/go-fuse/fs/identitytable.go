// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import (
	"log"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// nodeEntry is the per-nodeid state the kernel-facing tables need
// beyond the *Inode itself: the lookup count. Which file handles are
// open on it, and (if passthrough is in use) its backing-fd state, are
// kept in tables by entry.
//
// A nodeEntry lives for exactly as long as its nodeid is registered:
// mapIdentityTable.forget deletes it in the same step that drops the
// nodeid. There is nothing extra to clean up at that point because the
// FUSE protocol guarantees the node has no handles in openFiles and no
// state in rawBridge.backing - a node with open handles or an
// active backing-fd registration keeps its lookup count (and therefore
// its entry) alive.
type nodeEntry struct {
	// inode is the *Inode currently registered under this nodeid.
	inode atomic.Pointer[Inode]

	// lookupCount is the kernel's outstanding lookup
	// count for this nodeid.
	lookupCount uint64

	// The file handles open on the node are kept apart in
	// mapIdentityTable.openFiles, and the backing-fd (passthrough)
	// state in rawBridge.backing: few of the nodes of a large tree have
	// either at any moment, and a nodeEntry is 16 bytes.
}

// mapIdentityTable owns every kernel-facing number: nodeids and file
// handles, and the mappings back to the entries they identify. It is
// held by value as rawBridge.ids (see bridge.go).
//
// All methods lock internally (via mu) and return with no locks held.
// Every method may be called while the caller already holds one or
// more Inode.mu locks (via lockNodes/lockNode2) or a fileEntry.mu, but
// never the reverse: no method here calls back into code that acquires
// Inode.mu or fileEntry.mu while mu is held. This keeps mu innermost,
// consistent with the package's existing rule that "locks for inodes
// must be taken before rawBridge's locks".
type mapIdentityTable struct {
	mu sync.Mutex

	// stableAttrs is used to detect already-known nodes and hard links.
	// It is keyed by Ino alone and holds the newest Inode with that
	// number; unless externalNodeID is set, an Inode is found only if
	// Mode and Gen match too (see find). A 24-byte StableAttr key made
	// the table twice as large, for the rare number shared by two live
	// identities (a file replaced under a recycled inode number while
	// the kernel still knows the old one), which are told apart by Gen
	// and never looked up again under the old one. A ptrTable keyed by
	// the Inode's number.
	stableAttrs  ptrTable[Inode]
	automaticIno uint64

	// externalNodeID mirrors Options.ExternalNodeID: under it, nodeid
	// == Ino
	externalNodeID bool

	// The *Node ID* is an arbitrary uint64 identifier chosen by the FUSE
	// library. It is used to identify *nodes* (files/directories/symlinks/...)
	// in the communication between the FUSE library and the Linux kernel.
	//
	// nodes translates between the NodeID and its nodeEntry. A simple
	// incrementing counter is used as the NodeID (see nextNodeId).
	// A ptrTable keyed by the node ID of the entry's Inode.
	nodes      ptrTable[nodeEntry]
	nextNodeId uint64

	// nodeCountHigh records the highest number of entries we had in the
	// nodes map. As the size of stableAttrs tracks nodes (+- a few
	// entries due to concurrent FORGETs, LOOKUPs, and the fixed NodeID
	// 1), this is also a good estimate for stableAttrs.
	nodeCountHigh int

	// openFiles are the file handles open on each node that has any.
	// Go maps do not shrink: once it held many and is empty again, it
	// is made anew (openFilesHigh is the most it held since made).
	openFiles     map[*nodeEntry]*fileHandles
	openFilesHigh int

	// files[fh] is nil if fh is free. files[0] is a dummy.
	files []*fileEntry
	// indices of files that are not allocated.
	freeFiles []uint32
}

// initIdentityTable prepares a zero-value mapIdentityTable for use.
// The pointer receiver ensures the embedding rawBridge - and its
// mutex - is never copied.
func (t *mapIdentityTable) initIdentityTable(firstAutomaticIno uint64, externalNodeID bool) {
	t.automaticIno = firstAutomaticIno
	if t.automaticIno == 0 {
		t.automaticIno = 1 << 63
	}
	t.externalNodeID = externalNodeID
	t.stableAttrs = newPtrTable(func(n *Inode) uint64 { return n.ino })
	t.nodes = newPtrTable(func(e *nodeEntry) uint64 { return e.inode.Load().nodeId })
	t.openFiles = make(map[*nodeEntry]*fileHandles)
	// Fh 0 means no file handle.
	t.files = []*fileEntry{{}}
}

// find returns the registered Inode with identity id: under
// externalNodeID the one with id's Ino, else one whose Mode, Ino and
// Gen all match. The caller holds t.mu.
func (t *mapIdentityTable) find(id StableAttr) *Inode {
	n := t.stableAttrs.get(id.Ino)
	if n == nil || (!t.externalNodeID && n.StableAttr() != id) {
		return nil
	}
	return n
}

// fileHandles are the file handles open on one node.
type fileHandles struct {
	fhs []uint32
}

// fhs is the list of file handles open on e, nil if none. The caller
// holds t.mu.
func (t *mapIdentityTable) fhs(e *nodeEntry) []uint32 {
	if of := t.openFiles[e]; of != nil {
		return of.fhs
	}
	return nil
}

func (t *mapIdentityTable) registerRoot(root *Inode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &nodeEntry{lookupCount: 1}
	e.inode.Store(root)
	t.nodes.put(e)
	t.nextNodeId = 2 // the root node has nodeid 1
}

func (t *mapIdentityTable) nextAutomaticIno() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ino := t.automaticIno
	t.automaticIno++
	return ino
}

func (t *mapIdentityTable) allocateNodeID() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.nextNodeId
	t.nextNodeId++
	return id
}

func (t *mapIdentityTable) findByAttr(id StableAttr) *Inode {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.find(id)
}

// registerNew tries to register `child` under `id`. The following results are possible:
// * winner == child: normal case
// * winner == other node: racy lookup, retry call with the winner
//
// If `evicted` is returned, its bookkeeping must be updated must be under lock.
func (t *mapIdentityTable) registerNew(id StableAttr, child *Inode, exclusive bool) (winner *Inode, e *nodeEntry, evicted *Inode) {
	t.mu.Lock()
	defer t.mu.Unlock()

	if !exclusive {
		if old := t.find(id); old != nil && old != child && old.StableAttr() == id {
			// Exact same identity found via a racing lookup (eg. two
			// dirs linking to the same file, both losing to the same
			// winner). We don't hold its lock, so we can't change it
			return old, t.nodes.get(old.nodeId), nil
		}
	}

	e = t.nodes.get(child.nodeId)
	if e == nil {
		// Fresh node: create its entry. If child was already
		// registered (the old == child case above), its entry - and
		// any accumulated openFiles/backing state - is left alone.
		e = &nodeEntry{}
		e.inode.Store(child)
		t.nodes.put(e)
		if t.nodes.len() > t.nodeCountHigh {
			t.nodeCountHigh = t.nodes.len()
		}
	} else if old := e.inode.Load(); old != child {
		// we must have a different StableAttr now.
		evicted = old
		e.inode.Store(child)
	}
	// Any node that might be there is overwritten - it is obsolete now.
	t.stableAttrs.put(child)

	// child is kept as the definitive occupant of id/child.nodeId from
	// here on, and the caller holds child.mu for the duration of this
	// call - so crediting it now, atomically with the publish above, is
	// both safe and required (see the doc comment above).
	child.hasKernelRef = true
	child.changeCounter++
	e.lookupCount++

	return child, e, evicted
}

// decLookup applies a FORGET to nodeID, and reports whether that node ID
// lookup count reached zero.
//
// The caller must hold the Inode's mu: lookupCount and the Inode's
// hasKernelRef have to be updated together (registerNew credits them
// under that lock too), or a LOOKUP racing with a FORGET can leave the
// kernel holding a nodeid we already dropped.
func (t *mapIdentityTable) decLookup(nodeID uint64, nlookup uint64) (n *Inode, reachedZero bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.nodes.get(nodeID)
	if e == nil {
		log.Panicf("decLookup: unknown node %d", nodeID)
	}
	if nlookup > e.lookupCount {
		log.Panicf("n%d lookupCount underflow: lookupCount=%d, decrement=%d", nodeID, e.lookupCount, nlookup)
	}
	e.lookupCount -= nlookup
	return e.inode.Load(), e.lookupCount == 0
}

// node resolves a (nodeid, fh) pair as sent by the kernel. fh may be 0,
// in which case the returned *fileEntry is the always-present
// placeholder entry for "no file handle".
func (t *mapIdentityTable) node(nodeID uint64, fh uint64) (*nodeEntry, *fileEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nodes.get(nodeID), t.files[fh]
}

func (t *mapIdentityTable) forget(n *Inode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stableAttrs.get(n.ino) == n {
		t.stableAttrs.del(n.ino)
	}
	// The node ID goes with the Inode registered under it, also when
	// a newer Inode took its place in stableAttrs.
	if e := t.nodes.get(n.nodeId); e != nil && e.inode.Load() == n {
		t.nodes.del(n.nodeId)
	}
}

// compact gives memory back to the OS once the node tables have shrunk
// dramatically (100 x smaller), as after the kernel forgot most nodes.
// The tables shrink on their own as entries go (see ptrTable);
// `nodeCountHigh` is reset to the new (smaller) size.
func (t *mapIdentityTable) compact() {
	t.mu.Lock()

	if t.nodeCountHigh <= t.nodes.len()*100 {
		t.mu.Unlock()
		return
	}
	t.nodeCountHigh = t.nodes.len()

	t.mu.Unlock()

	// Run outside t.mu
	debug.FreeOSMemory()
}

// registerFile hands out a fresh file handle number for f, open on the
// node behind e. flags are the open flags (eg. syscall.O_EXCL).
func (t *mapIdentityTable) registerFile(e *nodeEntry, f FileHandle, flags uint32) *fileEntry {
	t.mu.Lock()
	defer t.mu.Unlock()

	fe := &fileEntry{}
	if len(t.freeFiles) > 0 {
		last := len(t.freeFiles) - 1
		fe.fh = t.freeFiles[last]
		t.freeFiles = t.freeFiles[:last]
		t.files[fe.fh] = fe
	} else {
		fe.fh = uint32(len(t.files))
		t.files = append(t.files, fe)
	}

	if _, ok := f.(FileReaddirenter); ok {
		fe.lastRead = dirEntryPool.Get().([]fuse.DirEntry)
	}
	of := t.openFiles[e]
	if of == nil {
		of = &fileHandles{}
		t.openFiles[e] = of
		t.openFilesHigh = max(t.openFilesHigh, len(t.openFiles))
	}
	fe.nodeIndex = len(of.fhs)
	fe.file = f
	fe.inode = e.inode.Load()
	of.fhs = append(of.fhs, fe.fh)

	return fe
}

// firstOpenFile returns any currently-open FileHandle recorded on e,
// plus a func that must be called once the caller is done using it.
// Used to fake a file handle for kernel requests that don't supply one
// (eg. GETATTR without an explicit fh).
func (t *mapIdentityTable) firstOpenFile(e *nodeEntry) (FileHandle, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, fh := range t.fhs(e) {
		fe := t.files[fh]
		fe.wg.Add(1)
		return fe.file, fe.wg.Done
	}
	return nil, func() {}
}

// detachFile unlinks the file handle fh from its owning node's entry
// and returns that entry and the fileEntry. The fh number itself does
// not become reusable until recycleFile is called - the caller may
// still need to run release callbacks against the fileEntry first.
func (t *mapIdentityTable) detachFile(nodeID uint64, fh uint64) (*nodeEntry, *fileEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()

	e := t.nodes.get(nodeID)
	if e == nil {
		log.Panicf("detachFile: unknown node %d", nodeID)
	}
	var entry *fileEntry
	if fh > 0 {
		of := t.openFiles[e]
		fhs := of.fhs
		last := len(fhs) - 1
		entry = t.files[fh]
		if last != entry.nodeIndex {
			fhs[entry.nodeIndex] = fhs[last]
			t.files[fhs[entry.nodeIndex]].nodeIndex = entry.nodeIndex
		}
		if last == 0 {
			delete(t.openFiles, e)
			if len(t.openFiles) == 0 && t.openFilesHigh > 1024 {
				t.openFiles, t.openFilesHigh = make(map[*nodeEntry]*fileHandles), 0
			}
		} else {
			of.fhs = fhs[:last]
		}
	}
	return e, entry
}

// recycleFile marks fh as free for reuse by a future registerFile call.
func (t *mapIdentityTable) recycleFile(fh uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files[fh] = nil
	t.freeFiles = append(t.freeFiles, fh)
}
