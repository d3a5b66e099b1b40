package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestRingByteBudget: long lines cannot make a file's ring hold more than
// its byte budget. The oldest lines are dropped as they are past the line
// count: backfill gets only what is kept, and a client resuming from a
// dropped line is told about the gap first.
func TestRingByteBudget(t *testing.T) {
	const (
		budget  = 2 << 20   // bytes kept: lines and frames
		lineLen = 256 << 10 // each entry is about 2*lineLen
		lines   = 12
		kept    = 3 // 3 entries of 512 KiB and a few hundred bytes fit, 4 do not
	)
	big := func(i int) string {
		p := fmt.Sprintf("line-%02d ", i)
		return p + strings.Repeat("x", lineLen-len(p))
	}
	short := func(s string) string { return s[:min(len(s), 8)] }

	path := logFile(t, "app.log")
	ts := newTestServerWith(t, config{Files: []string{path}, RingBytes: budget})
	s := ts.app.streams[path]

	appendLines(t, path, big(0))
	ts.waitRing(t, path, 1)
	c := ts.stream(t, query("backfill", "1"))
	first := c.line()
	if first.Line != big(0) {
		t.Fatalf("got line %q…, want line-00", short(first.Line))
	}
	c.ws.Close()

	var rest []string
	for i := 1; i < lines; i++ {
		rest = append(rest, big(i))
	}
	appendLines(t, path, rest...)
	ts.waitRing(t, path, lines)

	s.mu.Lock()
	n := s.ring.next - s.ring.start()
	sum := 0
	for seq := s.ring.start(); seq < s.ring.next; seq++ {
		sum += s.ring.at(seq).size()
	}
	accounted := s.ring.bytes
	s.mu.Unlock()
	if sum > budget || accounted != sum {
		t.Errorf("the ring keeps %d bytes (accounted: %d), want at most %d", sum, accounted, budget)
	}
	if n != kept {
		t.Errorf("the ring keeps %d lines, want %d", n, kept)
	}

	// Backfill: the lines kept, no more, then live lines.
	b := ts.stream(t, query("backfill", "100"))
	want := []string{big(lines - 3), big(lines - 2), big(lines - 1), "live"}
	ts.waitLive(t, path, 1)
	appendLines(t, path, "live")
	for _, w := range want {
		if f := b.line(); f.Line != w {
			t.Fatalf("backfill: got line %q…, want %q…", short(f.Line), short(w))
		}
	}

	// Resuming from the first line, long dropped: the gap, then the lines
	// kept ("live" is short: it fits beside the other three).
	r := ts.stream(t, query("since", first.pos()))
	if f := r.next(); f.Error != errGap {
		t.Fatalf("resuming from a dropped line: got %.80s first, want the gap frame", f.raw)
	}
	for _, w := range want {
		if f := r.line(); f.Line != w {
			t.Fatalf("after the gap: got line %q…, want %q…", short(f.Line), short(w))
		}
	}
}

// TestRingLimits: the ring drops its oldest entries past either limit,
// keeps its byte accounting exact, and keeps no entry bigger than the
// whole budget.
func TestRingLimits(t *testing.T) {
	tests := []struct {
		name            string
		lines, maxBytes int
		sizes           []int // of the entries pushed, in order
		wantFirst       uint64
		wantBytes       int
	}{
		{"count", 3, 100, []int{1, 1, 1, 1, 1}, 2, 3},
		{"bytes", 10, 10, []int{4, 4, 4}, 1, 8},
		{"exactly the budget", 10, 10, []int{5, 5}, 0, 10},
		{"a big entry drops small ones", 10, 10, []int{1, 1, 1, 9}, 2, 10},
		{"an entry over the budget is not kept", 10, 10, []int{4, 11}, 2, 0},
		{"after one over the budget", 10, 10, []int{4, 11, 3}, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.lines, tt.maxBytes)
			for _, n := range tt.sizes {
				r.push(&entry{text: strings.Repeat("x", n)})
			}
			if r.next != uint64(len(tt.sizes)) || r.start() != tt.wantFirst || r.bytes != tt.wantBytes {
				t.Errorf("got entries [%d, %d) of %d bytes, want [%d, %d) of %d bytes",
					r.start(), r.next, r.bytes, tt.wantFirst, len(tt.sizes), tt.wantBytes)
			}
			sum := 0
			for seq := r.start(); seq < r.next; seq++ {
				if e := r.at(seq); e == nil || e.seq != seq {
					t.Fatalf("entry %d: got %+v", seq, e)
				}
				sum += r.at(seq).size()
			}
			if sum != r.bytes {
				t.Errorf("entries kept: %d bytes, accounted %d", sum, r.bytes)
			}
			held := 0
			for _, e := range r.buf {
				if e != nil {
					held++
				}
			}
			if held != int(r.next-r.start()) {
				t.Errorf("%d entries still referenced, want the %d kept", held, r.next-r.start())
			}
		})
	}
}
