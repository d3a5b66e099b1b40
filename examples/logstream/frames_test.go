package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// publishSpy records what s's groups publish, room by room.
type publishSpy struct {
	mu     sync.Mutex
	byRoom map[string][]*sockets.Frame
}

// spyOnPublish makes s's groups publish through a spy, which then
// publishes as they would.
func spyOnPublish(s *stream) *publishSpy {
	spy := &publishSpy{byRoom: map[string][]*sockets.Frame{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.publishFrame
	s.publishFrame = func(room string, f *sockets.Frame) error {
		spy.mu.Lock()
		spy.byRoom[room] = append(spy.byRoom[room], f)
		spy.mu.Unlock()
		return next(room, f)
	}
	return spy
}

// bigLine is line i of about n bytes, with the words k0 to k9 that the
// tests' filters look for.
func bigLine(i, n int) string {
	p := fmt.Sprintf("INFO %04d k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 ", i)
	return p + strings.Repeat("x", max(0, n-len(p)))
}

// TestGroupsShareOneFrame: ten groups whose filters pass the same line
// publish one Frame for it, the one the ring keeps, not one copy each; a
// line that one group passes is prepared once, by that group.
func TestGroupsShareOneFrame(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	s := ts.app.streams[path]
	spy := spyOnPublish(s)
	var clients []*client
	for i := range 10 {
		clients = append(clients, ts.stream(t, query("search", fmt.Sprintf("k%d", i), "backfill", "0")))
	}
	ts.waitLive(t, path, 10)
	if _, groups := s.live(); groups != 10 {
		t.Fatalf("%d groups, want 10", groups)
	}
	lines := []string{bigLine(0, 64<<10), bigLine(1, 100), "INFO only k3 has this"}
	appendLines(t, path, lines...)
	for i, c := range clients {
		want := lines[:2]
		if i == 3 {
			want = lines
		}
		c.expect(want...)
	}

	s.mu.Lock()
	entries := s.entriesLocked(nil, s.ring.start(), s.ring.next)
	s.mu.Unlock()
	if len(entries) != 3 {
		t.Fatalf("the ring has %d lines, want 3", len(entries))
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.byRoom) != 10 {
		t.Fatalf("published to %d rooms, want 10", len(spy.byRoom))
	}
	for room, frames := range spy.byRoom {
		want := entries[:2]
		if len(frames) == 3 {
			want = entries
		}
		for i, e := range want {
			if i >= len(frames) {
				t.Fatalf("room %s: %d frames published, want %d", room, len(frames), len(want))
			}
			if shared := e.shared.Load(); frames[i] != shared || shared == nil {
				t.Errorf("room %s, line %d: published %p, want the ring's frame %p", room, i, frames[i], shared)
			}
			if frames[i].Len() != len(e.frame) {
				t.Errorf("room %s, line %d: a frame of %d bytes, want the line's %d", room, i, frames[i].Len(), len(e.frame))
			}
		}
	}
}

// TestNonReaderIsBoundedInBytes: a viewer that reads nothing, sent lines
// of 64 KiB, is disconnected once its queue holds streamQueueBytes (the
// hub counts it a slow client), long before its 4096 frames; a viewer with
// another filter that reads gets every line meanwhile.
func TestNonReaderIsBoundedInBytes(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	s := ts.app.streams[path]
	idle := ts.stream(t, query("search", "k1", "backfill", "0"))
	reader := ts.stream(t, query("search", "k2", "backfill", "0"))
	ts.waitLive(t, path, 2)
	_ = idle

	// 512 lines of 64 KiB, 32 MiB in all: more than the idle viewer's
	// queue, what its writer took and the sockets' buffers together.
	const lineLen, total, batch = 64 << 10, 512, 4
	for i := 0; i < total; i += batch {
		var lines []string
		for j := i; j < i+batch; j++ {
			lines = append(lines, bigLine(j, lineLen))
		}
		appendLines(t, path, lines...)
		reader.expect(lines...) // the reader keeps up: its queue stays short
	}
	testkit.Eventually(t, "the idle viewer disconnected as slow", func() bool {
		return ts.app.hub.Stats().SlowDisconnects == 1
	})
	// Its handler returns once the closing handshake has given up (the
	// idle viewer reads nothing, its close frame included).
	testkit.Eventually(t, "the reader alone live", func() bool {
		subs, groups := s.live()
		return subs == 1 && groups == 1
	})
	appendLines(t, path, bigLine(total, 100))
	reader.expect(bigLine(total, 100))
}

// TestBigRefillFitsTheQueue: a live viewer's filter change whose refill
// is larger than its queue takes gets the most recent lines that fit in
// maxRefillBytes, then live lines; it is not disconnected as slow (it was,
// for 100 lines of 64 KiB).
func TestBigRefillFitsTheQueue(t *testing.T) {
	path := logFile(t, "app.log")
	var lines []string
	for i := range 100 {
		lines = append(lines, bigLine(i, 64<<10))
	}
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 100)
	c := ts.stream(t, query("backfill", "0"))
	ts.waitLive(t, path, 1)

	c.send(`{"search":"k5","backfill":100}`)
	if f := c.next(); f.Filter == nil || f.Filter.Search != "k5" {
		t.Fatalf("got %.100s, want the acknowledgement", f.raw)
	}
	// The refill: the last lines, as many as fit.
	first := c.line()
	var i int
	if _, err := fmt.Sscanf(first.Line, "INFO %04d", &i); err != nil {
		t.Fatalf("refill: got %.40q…", first.Line)
	}
	n, size := 100-i, len(first.raw)
	for _, want := range lines[i+1:] {
		f := c.line()
		if f.Line != want {
			t.Fatalf("refill: got %.12q…, want %.12q…", f.Line, want)
		}
		size += len(f.raw)
	}
	if n < 2 || n == 100 || size > maxRefillBytes || size+len(first.raw) <= maxRefillBytes {
		t.Errorf("refill of %d lines, %d bytes: want as many of the last lines as fit in %d bytes", n, size, maxRefillBytes)
	}
	appendLines(t, path, "INFO live k5")
	c.expect("INFO live k5")
}
