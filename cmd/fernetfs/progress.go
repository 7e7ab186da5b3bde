package main

import (
	"fmt"
	"io"
	"time"
)

// progressInterval bounds how often the progress line is redrawn, so a
// tree of small files is not slowed down by terminal output.
const progressInterval = 200 * time.Millisecond

// progress is the one-line running count that fsck and decrypt show on
// stderr. It is drawn only when stderr is a terminal: in a script or a log
// the command stays quiet and its output is only its results.
type progress struct {
	w     io.Writer // nil: disabled
	verb  string
	now   func() time.Time
	files int64
	bytes int64
	last  time.Time
	shown bool // a line is on screen and must be erased before other output
}

// newProgress returns the progress display for a command, disabled unless
// stderr is a terminal.
func newProgress(e *env, verb string) *progress {
	p := &progress{verb: verb, now: time.Now}
	if e.stderrIsTerminal {
		p.w = e.stderr
	}
	return p
}

// add counts finished files and processed bytes, redrawing at most every
// progressInterval.
func (p *progress) add(files, bytes int64) {
	p.files += files
	p.bytes += bytes
	if p.w == nil {
		return
	}
	if t := p.now(); !p.shown || t.Sub(p.last) >= progressInterval {
		p.last = t
		p.shown = true
		fmt.Fprintf(p.w, "\r\x1b[K%s %d files, %s", p.verb, p.files, formatBytes(p.bytes))
	}
}

// clear erases the line, before a problem report or at the end, so the
// progress never mixes with real output on the same terminal.
func (p *progress) clear() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// formatBytes is a byte count for humans, in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
