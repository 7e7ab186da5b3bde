package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fernetfs/fernetfs/vault"
)

func TestProgressOnlyOnTerminal(t *testing.T) {
	var buf strings.Builder
	p := newProgress(&env{stderr: &buf}, "x:")
	p.add(1, 100)
	p.clear()
	if buf.Len() != 0 {
		t.Fatalf("progress written to a non-terminal: %q", buf.String())
	}
}

func TestProgressThrottleAndClear(t *testing.T) {
	var buf strings.Builder
	p := newProgress(&env{stderr: &buf, stderrIsTerminal: true}, "decrypt: restored")
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }

	p.add(1, 2048) // first update is always drawn
	if got, want := buf.String(), "\r\x1b[Kdecrypt: restored 1 files, 2.0 KiB"; got != want {
		t.Fatalf("first draw = %q, want %q", got, want)
	}
	buf.Reset()
	now = now.Add(progressInterval / 2)
	p.add(1, 0)
	if buf.Len() != 0 {
		t.Fatalf("redrawn before the interval: %q", buf.String())
	}
	now = now.Add(progressInterval)
	p.add(1, 3<<20)
	if got, want := buf.String(), "\r\x1b[Kdecrypt: restored 3 files, 3.0 MiB"; got != want {
		t.Fatalf("second draw = %q, want %q", got, want)
	}
	buf.Reset()
	p.clear()
	p.clear() // nothing on screen any more: no second erase
	if got, want := buf.String(), "\r\x1b[K"; got != want {
		t.Fatalf("clear = %q, want %q", got, want)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 30: "5.0 GiB", 1 << 60: "1.0 EiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	// The sentinel mapping is the documented contract; the scripts cover
	// the paths end to end, this pins the table itself.
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("disk full"), exitError},
		{usageErrorf("x"), exitUsage},
		{wrap(errNoTerminal), exitUsage},
		{wrap(vault.ErrWrongPassword), exitPassword},
		{wrap(vault.ErrBadRecoveryKey), exitPassword},
		{wrap(vault.ErrNotVault), exitNotVault},
		{wrap(vault.ErrMalformedHeader), exitNotVault},
		{wrap(vault.ErrUnsupported), exitNotVault},
		{wrap(vault.ErrHeaderTampered), exitCorruption},
		{wrap(vault.ErrCorrupt), exitCorruption},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	var buf strings.Builder
	if got := fail(&env{stderr: &buf}, errHelp); got != exitOK || buf.Len() != 0 {
		t.Errorf("fail(errHelp) = %d, %q; want 0 and no output", got, buf.String())
	}
	if got := fail(&env{stderr: &buf}, errors.New("two\nlines")); got != exitError || buf.String() != "fernetfs: two lines\n" {
		t.Errorf("fail(multi-line) = %d, %q", got, buf.String())
	}
}
