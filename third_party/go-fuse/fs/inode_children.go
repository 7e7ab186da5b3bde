// Copyright 2023 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

type childEntry struct {
	Name  string
	Inode *Inode
}

// inodeChildren maps the names of a directory's children to their
// Inodes. Listings of it (list, for the default readdir) come sorted by
// name, so they are deterministic, which matters for 2 reasons:
//
// 1. if the ordering is non-deterministic, multiple concurrent
// readdirs can lead to cache corruption (see issue #391)
//
// 2. it simplifies the implementation of directory seeking: the NFS
// protocol doesn't open and close directories. Instead, a directory
// read must always be continued from a previously handed out offset.
//
// Upstream kept the entries in insertion order in a slice beside the
// map; the map alone costs a directory of 100,000 files about 2.7 MB
// less (see PATCHES.md).
//
// Only directories have a table (Inode.children is nil for other nodes,
// unless they have more than one parent, and then m is nil), so every
// method but init and set accepts a nil receiver or a nil m as the
// empty table.
type inodeChildren struct {
	// m is nil unless the Inode is a directory.
	m map[string]*Inode
	// high is the most entries m held since it was made: Go maps do
	// not shrink, so del makes a new one once most are gone.
	high int
	// other are the Inode's parents beyond the newest (hard links);
	// nil when it has at most one.
	other map[parentData]struct{}
	// data is what Inode.SetData attached.
	data any
}

func newInodeChildren() *inodeChildren {
	return &inodeChildren{m: make(map[string]*Inode)}
}

func (c *inodeChildren) String() string {
	var ss []string
	for _, e := range c.list() {
		ch := e.Inode
		ss = append(ss, fmt.Sprintf("%q=i%d[%s]", e.Name, ch.ino, modeStr(ch.mode())))
	}
	return strings.Join(ss, ",")
}

func (c *inodeChildren) get(name string) *Inode {
	if c == nil {
		return nil
	}
	return c.m[name]
}

func (c *inodeChildren) set(parent *Inode, name string, ch *Inode) {
	if c.m == nil {
		c.m = make(map[string]*Inode)
	}
	c.m[name] = ch
	c.high = max(c.high, len(c.m))
	parent.changeCounter++

	ch.addParent(parentData{name, parent})
	ch.changeCounter++
}

func (c *inodeChildren) len() int {
	if c == nil {
		return 0
	}
	return len(c.m)
}

func (c *inodeChildren) toMap() map[string]*Inode {
	if c == nil || c.m == nil {
		return map[string]*Inode{}
	}
	return maps.Clone(c.m)
}

// shrinkBelow is the size under which a table that held many more
// entries is rebuilt smaller.
const shrinkBelow = 1024

func (c *inodeChildren) del(parent *Inode, name string) {
	if c == nil {
		return
	}
	ch, ok := c.m[name]
	if !ok {
		return
	}

	delete(c.m, name)
	if n := len(c.m); c.high >= 4*shrinkBelow && n < shrinkBelow {
		m := make(map[string]*Inode, n)
		for k, v := range c.m {
			m[k] = v
		}
		c.m, c.high = m, n
	}
	ch.deleteParent(parentData{name, parent})
	ch.changeCounter++
	parent.changeCounter++
}

// list returns the children sorted by name.
func (c *inodeChildren) list() []childEntry {
	if c == nil {
		return []childEntry{}
	}
	r := make([]childEntry, 0, len(c.m))
	for name, ch := range c.m {
		r = append(r, childEntry{Name: name, Inode: ch})
	}
	slices.SortFunc(r, func(a, b childEntry) int { return strings.Compare(a.Name, b.Name) })
	return r
}
