package fs

import (
	"testing"
)

func TestInodeParents(t *testing.T) {
	var p, ino1, ino2, ino3 Inode

	// empty store should be empty without panicing
	if count := p.parentCount(); count != 0 {
		t.Error(count)
	}
	if p.allParents() != nil {
		t.Error("empty store should return nil but did not")
	}

	// non-dupes should be stored
	all := []parentData{
		{"foo", &ino1},
		{"foo2", &ino1},
		{"foo3", &ino1},
		{"foo", &ino2},
		{"foo", &ino3},
	}
	for i, v := range all {
		p.addParent(v)
		if count := p.parentCount(); count != i+1 {
			t.Errorf("want=%d have=%d", i+1, count)
		}
		last, ok := p.parent()
		if !ok || last != v {
			t.Error("get did not give us last-known parent")
		}
	}

	// adding dupes should not cause the count to increase, but
	// must cause get() to return the most recently added dupe.
	for _, v := range all {
		p.addParent(v)
		if count := p.parentCount(); count != len(all) {
			t.Errorf("want=%d have=%d", len(all), count)
		}
		last, ok := p.parent()
		if !ok || last != v {
			t.Error("get did not give us last-known parent")
		}
	}

	if p.children == nil || p.children.m != nil {
		t.Error("a file with hard links has no children struct, or a table in it")
	}

	all2 := p.allParents()
	if len(all) != len(all2) {
		t.Errorf("want=%d have=%d", len(all), len(all2))
	}

	// deleting every parent, newest first, leaves an empty store.
	for i := len(all) - 1; i >= 0; i-- {
		p.deleteParent(all[i])
		if count := p.parentCount(); count != i {
			t.Errorf("after delete: want=%d have=%d", i, count)
		}
		if _, ok := p.parent(); ok != (i > 0) {
			t.Errorf("after delete: get ok=%v with %d parents left", ok, i)
		}
	}
	if p.allParents() != nil {
		t.Error("emptied store should return nil but did not")
	}
	if p.children != nil {
		t.Error("a file without parents kept its children struct")
	}
}
