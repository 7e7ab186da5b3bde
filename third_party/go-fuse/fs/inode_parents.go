// Copyright 2021 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

// An Inode has zero or more parents and remembers which one is the
// most recent: that one is held in the Inode by value (newestParent),
// so that the common single parent costs no allocation of its own; the
// others (hard links) are kept in a map in the Inode's children struct,
// which is allocated for them when the Inode is not a directory, so
// that an Inode needs no word of its own for them.
//
// No internal locking: the caller holds the Inode's lock (or otherwise
// prevents concurrent access).

// otherParents returns the map of parents beyond the newest, nil when
// there are none.
func (n *Inode) otherParents() map[parentData]struct{} {
	if n.children == nil {
		return nil
	}
	return n.children.other
}

// addParent adds a parent, which becomes the newest.
func (n *Inode) addParent(p parentData) {
	// one and only parent
	if n.newestParent.parent == nil {
		n.newestParent = p
	}
	// already known as newest
	if n.newestParent == p {
		return
	}
	// old newest gets displaced into the others
	if n.children == nil {
		n.children = &inodeChildren{}
	}
	if n.children.other == nil {
		n.children.other = make(map[parentData]struct{})
	}
	n.children.other[n.newestParent] = struct{}{}
	// new parent becomes newest (possibly moving up from the others)
	delete(n.children.other, p)
	n.newestParent = p
}

// parent returns the most recent parent, and false if there is no
// parent at all. It returns a copy: callers use it after unlocking the
// Inode.
func (n *Inode) parent() (parentData, bool) {
	return n.newestParent, n.newestParent.parent != nil
}

// allParents returns all known parents, or nil if there is no parent
// at all.
func (n *Inode) allParents() []parentData {
	count := n.parentCount()
	if count == 0 {
		return nil
	}
	out := make([]parentData, 0, count)
	out = append(out, n.newestParent)
	for i := range n.otherParents() {
		out = append(out, i)
	}
	return out
}

// deleteParent removes a parent, if known.
func (n *Inode) deleteParent(p parentData) {
	// We have zero parents, so we can't delete any.
	if n.newestParent.parent == nil {
		return
	}
	other := n.otherParents()
	// If it's not the newest it must be in the others (or nowhere).
	if n.newestParent != p {
		delete(other, p)
		n.dropOtherParents()
		return
	}
	// We want to delete the newest, but there is no other to replace it.
	if len(other) == 0 {
		n.newestParent = parentData{}
		return
	}
	// Move random entry from the others over newest.
	var i parentData
	for i = range other {
		n.newestParent = i
		break
	}
	delete(other, i)
	n.dropOtherParents()
}

// dropOtherParents lets go of an empty map of other parents, and of the
// children struct that held it if it was there for that alone.
func (n *Inode) dropOtherParents() {
	c := n.children
	if c == nil || c.other == nil || len(c.other) > 0 {
		return
	}
	c.other = nil
	if c.m == nil && !n.hasData {
		n.children = nil
	}
}

// clearParents forgets all parents.
func (n *Inode) clearParents() {
	n.newestParent = parentData{}
	if c := n.children; c != nil {
		c.other = nil
		if c.m == nil && !n.hasData {
			n.children = nil
		}
	}
}

// parentCount is the number of parents.
func (n *Inode) parentCount() int {
	if n.newestParent.parent == nil {
		return 0
	}
	return 1 + len(n.otherParents())
}

type parentData struct {
	name   string
	parent *Inode
}
