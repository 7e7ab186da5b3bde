package fs

import (
	"strings"
	"testing"
)

func TestExcludeMatcher(t *testing.T) {
	type c struct {
		path  string
		dir   bool
		match bool
	}
	for _, tc := range []struct {
		patterns []string
		cases    []c
	}{
		{[]string{"*.o"}, []c{{"a.o", false, true}, {"x/y/a.o", false, true}, {"a.c", false, false}, {"a.o/b", false, false}}},
		{[]string{"/build"}, []c{{"build", true, true}, {"build", false, true}, {"x/build", true, false}}},
		{[]string{"cache/"}, []c{{"cache", true, true}, {"cache", false, false}, {"a/cache", true, true}}},
		{[]string{"doc/*.txt"}, []c{{"doc/a.txt", false, true}, {"doc/x/a.txt", false, false}, {"x/doc/a.txt", false, false}}},
		{[]string{"a/**"}, []c{{"a", true, false}, {"a/b", false, true}, {"a/b/c", false, true}}},
		{[]string{"**/logs"}, []c{{"logs", true, true}, {"x/y/logs", true, true}}},
		{[]string{"a/**/z"}, []c{{"a/z", false, true}, {"a/b/c/z", false, true}, {"b/z", false, false}}},
		{[]string{"*.log", "!keep.log"}, []c{{"x.log", false, true}, {"keep.log", false, false}, {"d/keep.log", false, false}}},
		{[]string{"# comment", "", `\#hash`, `\!bang`, "sp\\ ", "tr   "}, []c{{"# comment", false, false}, {"#hash", false, true}, {"!bang", false, true}, {"sp ", false, true}, {"tr", false, true}, {"tr ", false, false}}},
		{[]string{"ba?.[ch]"}, []c{{"bar.c", false, true}, {"bar.h", false, true}, {"bar.o", false, false}, {"baar.c", false, false}}},
		{nil, []c{{"anything", false, false}}},
	} {
		m, err := compileExcludes(tc.patterns)
		if err != nil {
			t.Fatalf("%q: %v", tc.patterns, err)
		}
		for _, cs := range tc.cases {
			if got := m.match(cs.path, cs.dir); got != cs.match {
				t.Errorf("patterns %q: match(%q, dir=%v) = %v, want %v", tc.patterns, cs.path, cs.dir, got, cs.match)
			}
		}
	}
	for _, bad := range []string{"[", "a//b", "/"} {
		if _, err := compileExcludes([]string{bad}); err == nil {
			t.Errorf("pattern %q: no error", bad)
		}
	}
}

// FuzzExcludeMatcher: any pattern list either fails to compile or
// matches any path without panicking, and a pattern never matches a
// path it would not match after a "!" re-include of the same pattern.
func FuzzExcludeMatcher(f *testing.F) {
	f.Add("*.o", "a/b.o", false)
	f.Add("a/**/b/", "a/x/y/b", true)
	f.Add(`\!x[a-`, "!xa", false)
	f.Fuzz(func(t *testing.T, pattern, path string, isDir bool) {
		m, err := compileExcludes([]string{pattern})
		if err != nil {
			return
		}
		got := m.match(path, isDir)
		neg, err := compileExcludes([]string{pattern, "!" + strings.TrimPrefix(pattern, "!")})
		if err != nil {
			return
		}
		if !strings.HasPrefix(pattern, "!") && got && neg.match(path, isDir) {
			t.Fatalf("%q then its negation still excludes %q", pattern, path)
		}
	})
}
