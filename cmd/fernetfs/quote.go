package main

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// displayPath is how a plaintext path appears in messages: absolute within
// the vault ("/" for the root) and quoted Go-style, since names come from
// the vault and may hold spaces, newlines or terminal escape sequences.
func displayPath(p string) string {
	return strconv.Quote(path.Join("/", p))
}

// escapeControl makes one message line safe for a terminal: every
// non-printable character (an escape sequence's ESC, a carriage return,
// invalid UTF-8) becomes a Go escape such as \x1b, and line breaks and
// tabs become spaces. It is the net under displayPath for names a
// message got from elsewhere (a backing name inside a vault error).
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n' || r == '\t' || r == '\v' || r == '\f':
			b.WriteByte(' ')
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
