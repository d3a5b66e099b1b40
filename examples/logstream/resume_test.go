package main

import (
	"fmt"
	"os"
	"testing"
)

// TestResumeAfterRotation: a client that reconnects after the file was
// rotated, the new file already longer than its old offset, gets every
// line of the new file (no gap: its position names the old generation,
// which the server still has); with only an offset, which could be in
// either file, it is told about a possible gap instead of losing lines
// silently.
func TestResumeAfterRotation(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	appendLines(t, path, "a", "b", "c")
	ts.waitRing(t, path, 3)
	c := ts.stream(t, query("backfill", "10"))
	last := c.expect("a", "b", "c")[2]
	c.ws.Close()

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	var fresh []string
	for i := range 5 {
		fresh = append(fresh, fmt.Sprintf("new-line-%d", i))
	}
	appendLines(t, path, fresh...)
	ts.waitRing(t, path, 8)

	r := ts.stream(t, query("since", last.pos()))
	got := r.expect(fresh...)
	if !got[0].Rotated || got[0].Gen == last.Gen {
		t.Errorf("first line after the rotation: %s, want rotated, in a new generation", got[0].raw)
	}

	// The older since=OFFSET: a gap first, whatever follows.
	old := ts.stream(t, query("since", fmt.Sprint(last.Offset)))
	if f := old.next(); f.Error != errGap {
		t.Errorf("resuming with an offset only: got %s first, want the gap frame", f.raw)
	}
}

// TestResumeAfterGenerationsDropped: when the ring no longer has any line
// of the client's generation, the client is told, then gets the oldest
// lines kept.
func TestResumeAfterGenerationsDropped(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServerWith(t, config{Files: []string{path}, RingSize: 4})
	appendLines(t, path, "a", "b")
	ts.waitRing(t, path, 2)
	c := ts.stream(t, query("backfill", "10"))
	last := c.expect("a", "b")[1]
	c.ws.Close()

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, "n1", "n2", "n3", "n4", "n5")
	ts.waitRing(t, path, 7)
	r := ts.stream(t, query("since", last.pos()))
	if f := r.next(); f.Error != errGap {
		t.Fatalf("got %s, want the gap frame", f.raw)
	}
	r.expect("n2", "n3", "n4", "n5")
}

// TestResumeAcrossRestart: a generation handed out by an earlier run of
// the server is unknown to the next one, which cannot tell whether the
// file is still the one the client read: a gap, then the lines after the
// offset.
func TestResumeAcrossRestart(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path, "a", "b")
	first := newTestServer(t, path)
	first.waitRing(t, path, 2)
	last := first.stream(t, query("backfill", "1")).expect("b")[0]

	appendLines(t, path, "c")
	second := newTestServer(t, path)
	second.waitRing(t, path, 3)
	r := second.stream(t, query("since", last.pos()))
	if f := r.next(); f.Error != errGap {
		t.Fatalf("got %s, want the gap frame", f.raw)
	}
	if f := r.line(); f.Line != "c" || f.Gen == last.Gen {
		t.Errorf("got %s, want c in the new run's generation", f.raw)
	}
}
