// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
)

// TestInodeChildren checks the children table: lookups, a listing
// sorted by name whatever the insertion order, and a table rebuilt
// small once most of a large directory is gone.
func TestInodeChildren(t *testing.T) {
	dir := &Inode{}
	initInode(dir, dir, StableAttr{Mode: syscall.S_IFDIR, Ino: 1}, nil, false, 1)
	c := dir.children
	const n = 5000
	names := make([]string, n)
	for i := 0; i < n; i++ {
		names[i] = fmt.Sprintf("f%05d", (i*7919)%n)
		ch := &Inode{}
		initInode(ch, ch, StableAttr{Mode: syscall.S_IFREG, Ino: uint64(i + 2)}, nil, false, uint64(i+2))
		c.set(dir, names[i], ch)
	}
	if c.len() != n || c.get(names[10]) == nil || c.get("nope") != nil {
		t.Fatalf("len %d, get %v", c.len(), c.get(names[10]))
	}
	got := c.list()
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if len(got) != n {
		t.Fatalf("list has %d entries", len(got))
	}
	for i, e := range got {
		if e.Name != sorted[i] || e.Inode != c.get(e.Name) {
			t.Fatalf("list[%d] = %q, want %q", i, e.Name, sorted[i])
		}
	}
	for i := 0; i < n-10; i++ {
		c.del(dir, names[i])
	}
	if c.len() != 10 || c.high >= shrinkBelow {
		t.Errorf("after deleting all but 10: len %d, high %d (table not rebuilt)", c.len(), c.high)
	}
	for _, name := range names[n-10:] {
		if ch := c.get(name); ch == nil {
			t.Errorf("%s lost in the rebuild", name)
		} else if pd, ok := ch.parent(); !ok || pd.name != name {
			t.Errorf("%s has parent %v", name, pd)
		}
	}
}
