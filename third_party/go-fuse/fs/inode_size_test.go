// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fs

import (
	"syscall"
	"testing"
	"unsafe"
)

// TestInodeTablesSize pins the per-node memory that a file system with
// many files pays for every node the kernel knows: the Inode (embedded
// in the file system's node), its nodeEntry, and no other allocation
// for the children table of a non-directory or for a single parent.
func TestInodeTablesSize(t *testing.T) {
	if s := unsafe.Sizeof(Inode{}); s > 96 {
		t.Errorf("Inode is %d bytes, want at most 96", s)
	}
	if s := unsafe.Sizeof(nodeEntry{}); s > 16 {
		t.Errorf("nodeEntry is %d bytes, want at most 16", s)
	}

	dir := &Inode{}
	initInode(dir, dir, StableAttr{Mode: syscall.S_IFDIR, Ino: 2}, nil, false, 2)
	if dir.children == nil {
		t.Fatal("directory has no children table")
	}
	file := &Inode{}
	initInode(file, file, StableAttr{Mode: syscall.S_IFREG, Ino: 3}, nil, false, 3)
	if file.children != nil {
		t.Error("regular file has a children table")
	}
	if n := file.children.len(); n != 0 {
		t.Errorf("file has %d children", n)
	}
	if got := file.GetChild("x"); got != nil {
		t.Errorf("file has child %v", got)
	}
	if m := file.Children(); len(m) != 0 {
		t.Errorf("file has children %v", m)
	}

	dir.children.set(dir, "f", file)
	if pd, ok := file.parent(); !ok || pd.name != "f" || pd.parent != dir {
		t.Errorf("linked file has parent %v, %v", pd, ok)
	}
	dir.children.del(dir, "f")
	if _, ok := file.parent(); ok {
		t.Error("unlinked file still has a parent")
	}

	var p Inode
	pd := parentData{"f", dir}
	if allocs := testing.AllocsPerRun(100, func() {
		p.addParent(pd)
		p.deleteParent(pd)
	}); allocs != 0 {
		t.Errorf("adding and deleting a single parent allocated %v times, want 0", allocs)
	}
}

// TestInodeData checks that what SetData attaches stays with the Inode,
// in the children struct of a non-directory too, through a second parent
// coming and going, and that an Inode without it returns nil.
func TestInodeData(t *testing.T) {
	dir := &Inode{}
	dir.SetData("dir")
	initInode(dir, dir, StableAttr{Mode: syscall.S_IFDIR, Ino: 2}, nil, false, 2)
	other := &Inode{}
	initInode(other, other, StableAttr{Mode: syscall.S_IFDIR, Ino: 3}, nil, false, 3)
	file := &Inode{}
	file.SetData("file")
	initInode(file, file, StableAttr{Mode: syscall.S_IFREG, Ino: 4}, nil, false, 4)
	plain := &Inode{}
	initInode(plain, plain, StableAttr{Mode: syscall.S_IFREG, Ino: 5}, nil, false, 5)

	if dir.Data() != "dir" || dir.children.m == nil {
		t.Errorf("directory: data %v, table %v", dir.Data(), dir.children.m)
	}
	if file.Data() != "file" || file.children.m != nil {
		t.Errorf("file: data %v, table %v", file.Data(), file.children.m)
	}
	if plain.Data() != nil || plain.children != nil {
		t.Errorf("plain file: data %v, children struct %v", plain.Data(), plain.children)
	}
	dir.children.set(dir, "f", file)
	other.children.set(other, "g", file)
	if n := file.parentCount(); n != 2 {
		t.Errorf("file has %d parents, want 2", n)
	}
	other.children.del(other, "g")
	dir.children.del(dir, "f")
	if file.Data() != "file" || file.parentCount() != 0 {
		t.Errorf("after unlinking: data %v, %d parents", file.Data(), file.parentCount())
	}
	file.clearParents()
	if file.Data() != "file" {
		t.Errorf("after clearParents: data %v", file.Data())
	}
}
