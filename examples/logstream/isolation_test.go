package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// costlySearch is within the limits on a search but costs milliseconds a
// line: it took 3 to 4 s to match against a ring of 10000 lines, and 8 s
// against a line of 1 MiB.
const costlySearch = `/(?s:.{0,490})\x01/`

// TestCostlyFilterDoesNotDelayOthers: viewers that keep re-sending a
// costly filter, with a full ring and a line of 1 MiB in it, do not delay
// the lines of another viewer: matching is done outside the file's lock,
// by each filter's group and each client on its own.
func TestCostlyFilterDoesNotDelayOthers(t *testing.T) {
	path := logFile(t, "app.log")
	const ringSize = 10000
	lines := make([]string, ringSize)
	for i := range lines {
		lines[i] = fmt.Sprintf("INFO %05d %s", i, strings.Repeat("x", 240))
	}
	lines[ringSize/2] = "INFO big " + strings.Repeat("y", 1<<20-100)
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, ringSize)

	plain := ts.stream(t, query("backfill", "0"))
	ts.waitLive(t, path, 1)
	var costly []*client
	for range 4 {
		c := ts.stream(t, query("backfill", "0"))
		costly = append(costly, c)
	}
	ts.waitLive(t, path, 5)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the costly viewers re-send their filter every 110 ms
		defer close(done)
		tick := time.NewTicker(110 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, c := range costly {
				c.ws.SetWriteDeadline(time.Now().Add(time.Second))
				c.ws.WriteMessage(1, []byte(fmt.Sprintf(`{"search":%q,"backfill":1000}`, costlySearch)))
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()
	time.Sleep(300 * time.Millisecond) // the first refills are under way

	var worst time.Duration
	for i := range 20 {
		want := fmt.Sprintf("ERROR live %d", i)
		start := time.Now()
		appendLines(t, path, want)
		plain.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		f := plain.line()
		d := time.Since(start)
		if f.Line != want {
			t.Fatalf("got %q, want %q", f.Line, want)
		}
		worst = max(worst, d)
		if d > isolationBound {
			t.Errorf("line %d arrived after %v, want within %v", i, d, isolationBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("slowest line: %v", worst)
}

// TestSlowGroupIsToldItFellBehind: a group that has not matched lines the
// ring has since dropped skips them, and its members are told how many.
func TestSlowGroupIsToldItFellBehind(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServerWith(t, config{Files: []string{path}, RingSize: 10})
	s := ts.app.streams[path]
	entered, release := holdFirstMatch(s)
	c := ts.stream(t, query("search", "x", "backfill", "0"))
	ts.waitLive(t, path, 1)

	appendLines(t, path, "x first")
	<-entered // the group took it and is matching it
	var more []string
	for i := range 30 {
		more = append(more, fmt.Sprintf("x %d", i))
	}
	appendLines(t, path, more...)
	ts.waitRing(t, path, 31)
	close(release)

	c.expect("x first")
	if f := c.next(); f.Error != errBehind || f.Skipped != 20 {
		t.Fatalf("got %s, want the error %q with 20 lines skipped", f.raw, errBehind)
	}
	c.expect(more[20:]...)
	// Live lines follow.
	appendLines(t, path, "x after")
	c.expect("x after")
}

// TestJoinWhileGroupIsBehind: a client whose catch-up is past its group's
// position waits for the group before it joins: the lines in between are
// neither sent twice (caught up with, then published) nor lost.
func TestJoinWhileGroupIsBehind(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	s := ts.app.streams[path]
	entered, release := holdFirstMatch(s)
	a := ts.stream(t, query("search", "x", "backfill", "0"))
	ts.waitLive(t, path, 1)

	appendLines(t, path, "x1")
	<-entered // the group is matching x1
	appendLines(t, path, "x2", "x3")
	ts.waitRing(t, path, 3)
	b := ts.stream(t, query("search", "x", "backfill", "10"))
	b.expect("x1", "x2", "x3") // the backfill, up to the end of the ring
	time.Sleep(50 * time.Millisecond)
	if subs, _ := s.live(); subs != 1 {
		t.Errorf("%d live clients while the group is behind the joiner, want 1", subs)
	}
	close(release)
	ts.waitLive(t, path, 2)
	appendLines(t, path, "x4")
	a.expect("x1", "x2", "x3", "x4")
	b.expect("x4")
	appendLines(t, path, "x5")
	a.expect("x5")
	b.expect("x5")
}

// holdFirstMatch makes the first group of s to match a batch stop before
// it: entered is closed then, and the group goes on once release is
// closed.
func holdFirstMatch(s *stream) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	first := true
	s.mu.Lock()
	s.beforeMatch = func() { // one group in these tests: only its goroutine calls it
		if first {
			first = false
			close(entered)
			<-release
		}
	}
	s.mu.Unlock()
	return entered, release
}
