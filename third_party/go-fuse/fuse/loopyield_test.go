// Copyright 2026 the Go-FUSE Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package fuse

import (
	"testing"
	"time"
)

func TestLoopYield(t *testing.T) {
	t0 := time.Unix(1000, 0)
	n := 0
	y := loopYield{last: t0, yield: func() { n++ }}
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{time.Millisecond, false},
		{loopYieldInterval, false},
		{loopYieldInterval + time.Microsecond, true},
		// The interval counts from the last yield, not from the start.
		{loopYieldInterval + 2*time.Millisecond, false},
		{2*loopYieldInterval + 2*time.Microsecond, true},
		// A reader that waited long in read(2) yields once, not once per
		// interval missed.
		{time.Second, true},
		{time.Second + time.Millisecond, false},
	}
	for i, s := range steps {
		if got := y.maybe(t0.Add(s.at)); got != s.want {
			t.Errorf("step %d at %v: yielded %v, want %v", i, s.at, got, s.want)
		}
	}
	if n != 3 {
		t.Errorf("yield called %d times, want 3", n)
	}
	if loopYieldInterval*2 > 10*time.Millisecond {
		t.Errorf("loopYieldInterval %v: sysmon's 10 ms slice could see one schedtick twice", loopYieldInterval)
	}
}
