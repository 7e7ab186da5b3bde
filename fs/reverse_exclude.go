package fs

import (
	"fmt"
	"path"
	"strings"
)

// excludeMatcher decides which plaintext paths a reverse view leaves out,
// with the rules of gitignore(5) that make sense for one list of
// patterns relative to the folder:
//
//   - blank lines and lines starting with "#" are ignored ("\#" is a
//     literal "#"); trailing spaces are dropped unless escaped;
//   - "!" re-includes what an earlier pattern excluded ("\!" is a
//     literal "!"); the last matching pattern wins;
//   - a trailing "/" matches directories only;
//   - a pattern with a "/" at the start or in the middle is anchored at
//     the folder; otherwise it matches a name at any depth;
//   - "*", "?", "[...]" and "\" work as in path.Match and never match
//     "/"; a "**" component matches any number of directories ("a/**"
//     everything inside a, "**/b" b at any depth, "a/**/b" b anywhere
//     below a).
//
// As in git, a path inside an excluded directory cannot be re-included:
// the view does not list an excluded directory at all.
type excludeMatcher struct {
	rules []excludeRule
}

type excludeRule struct {
	neg, dirOnly bool
	parts        []string
}

// compileExcludes parses patterns (each one gitignore line).
func compileExcludes(patterns []string) (*excludeMatcher, error) {
	m := &excludeMatcher{}
	for _, p := range patterns {
		r, ok, err := compileExclude(p)
		if err != nil {
			return nil, fmt.Errorf("exclude pattern %q: %w", p, err)
		}
		if ok {
			m.rules = append(m.rules, r)
		}
	}
	return m, nil
}

func compileExclude(p string) (excludeRule, bool, error) {
	var r excludeRule
	p = strings.TrimSuffix(p, "\r")
	p = trimUnescapedSpaces(p)
	if p == "" || strings.HasPrefix(p, "#") {
		return r, false, nil
	}
	switch {
	case strings.HasPrefix(p, "!"):
		r.neg = true
		p = p[1:]
	case strings.HasPrefix(p, `\!`), strings.HasPrefix(p, `\#`):
		p = p[1:]
	}
	if strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = strings.TrimRight(p, "/")
	}
	if p == "" {
		return r, false, fmt.Errorf("matches nothing")
	}
	anchored := strings.Contains(p, "/")
	p = strings.TrimPrefix(p, "/")
	r.parts = strings.Split(p, "/")
	if !anchored {
		r.parts = append([]string{"**"}, r.parts...)
	}
	for _, part := range r.parts {
		if part == "" {
			return r, false, fmt.Errorf("empty path component")
		}
		if _, err := path.Match(part, ""); err != nil {
			return r, false, err
		}
	}
	return r, true, nil
}

// trimUnescapedSpaces drops trailing spaces not preceded by a backslash.
func trimUnescapedSpaces(p string) string {
	for strings.HasSuffix(p, " ") && !strings.HasSuffix(p, `\ `) {
		p = p[:len(p)-1]
	}
	return p
}

// match reports whether rel (a clean relative path, "/"-separated) is
// excluded; isDir says whether it is a directory.
func (m *excludeMatcher) match(rel string, isDir bool) bool {
	if m == nil || len(m.rules) == 0 {
		return false
	}
	comps := strings.Split(rel, "/")
	excluded := false
	for _, r := range m.rules {
		if r.dirOnly && !isDir {
			continue
		}
		if matchParts(r.parts, comps) {
			excluded = !r.neg
		}
	}
	return excluded
}

func matchParts(pp, cc []string) bool {
	if len(pp) == 0 {
		return len(cc) == 0
	}
	if pp[0] == "**" {
		if len(pp) == 1 {
			return len(cc) > 0
		}
		for i := 0; i <= len(cc); i++ {
			if matchParts(pp[1:], cc[i:]) {
				return true
			}
		}
		return false
	}
	if len(cc) == 0 {
		return false
	}
	ok, _ := path.Match(pp[0], cc[0])
	return ok && matchParts(pp[1:], cc[1:])
}

// CheckExcludes reports the first exclude pattern that does not parse, so
// the CLI can refuse it before asking for a password.
func CheckExcludes(patterns []string) error {
	_, err := compileExcludes(patterns)
	return err
}
