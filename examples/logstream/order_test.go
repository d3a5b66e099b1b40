package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestOrderClock: a line's order time is its own time; a line without one
// takes the time of the last line that had one, at most maxInherited lines
// in a row; otherwise, or before any line with a time, its read time.
func TestOrderClock(t *testing.T) {
	t1 := time.Date(2025, 6, 7, 8, 9, 10, 123456000, time.UTC)
	read := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var c orderClock
	if got := c.next(time.Time{}, read); got != read.UnixMicro() {
		t.Errorf("a first line without a time: %d, want its read time %d", got, read.UnixMicro())
	}
	if got := c.next(t1, read); got != t1.UnixMicro() {
		t.Errorf("a line with a time: %d, want %d", got, t1.UnixMicro())
	}
	for i := range maxInherited {
		if got := c.next(time.Time{}, read); got != t1.UnixMicro() {
			t.Fatalf("untimed line %d after a timed one: %d, want the timed one's %d", i, got, t1.UnixMicro())
		}
	}
	if got := c.next(time.Time{}, read); got != read.UnixMicro() {
		t.Errorf("untimed line %d in a row: %d, want its read time", maxInherited+1, got)
	}
	t2 := t1.Add(time.Second)
	if got := c.next(t2, read); got != t2.UnixMicro() {
		t.Errorf("a timed line again: %d, want %d", got, t2.UnixMicro())
	}
	if got := c.next(time.Time{}, read); got != t2.UnixMicro() {
		t.Errorf("an untimed line after it: %d, want %d", got, t2.UnixMicro())
	}
}

// TestFramesCarryOrderTime: over a real socket, each line's at is its
// time, or its predecessor's (a stack trace), and a file without times
// gets read times, which do not go back; a rotation starts over (the new
// file's untimed first line does not take the old file's time).
func TestFramesCarryOrderTime(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path,
		"2025-06-07T08:09:10.5Z ERROR boom",
		"  at main.go:12",
		"  at main.go:34",
		`{"time":"2025-06-07T08:09:11Z","level":"info","msg":"next"}`,
	)
	plain := logFile(t, "plain.log")
	appendLines(t, plain, "one", "two")
	start := time.Now()
	ts := newTestServer(t, path, plain)
	ts.waitRing(t, path, 4)
	ts.waitRing(t, plain, 2)

	boom := time.Date(2025, 6, 7, 8, 9, 10, 5e8, time.UTC).UnixMicro()
	next := time.Date(2025, 6, 7, 8, 9, 11, 0, time.UTC).UnixMicro()
	c := ts.stream(t, query("file", path, "backfill", "10"))
	for i, want := range []int64{boom, boom, boom, next} {
		if f := c.line(); f.At != want {
			t.Errorf("line %d %q: at %d, want %d", i, f.Line, f.At, want)
		}
	}
	p := ts.stream(t, query("file", plain, "backfill", "10"))
	one, two := p.line(), p.line()
	if one.At < start.UnixMicro() || two.At < one.At || two.At > time.Now().UnixMicro() {
		t.Errorf("a file without times: at %d then %d, want read times from %d on, not going back", one.At, two.At, start.UnixMicro())
	}

	ts.waitLive(t, path, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	appendLines(t, path, "untimed in the new file")
	if f := c.line(); !f.Rotated || f.At < before.UnixMicro() {
		t.Errorf("first line after the rotation: %s, want rotated with its read time (from %d on)", f.raw, before.UnixMicro())
	}
}

// TestDownloadSeveralFiles: file= repeated downloads the files' kept lines
// that pass the filter merged by order time, each file's lines in their
// order: as text, each line after its file's name; as NDJSON, the frames.
// At most maxViewFiles; a name repeated counts once. A stream socket is
// for one file.
func TestDownloadSeveralFiles(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	at := func(s int) string { return fmt.Sprintf("2025-06-07T08:09:%02dZ", s) }
	appendLines(t, a, at(1)+" INFO a1", "  a1 continued", at(3)+" ERROR a3", at(5)+" INFO a5")
	appendLines(t, b, at(2)+" INFO b2", at(4)+" ERROR b4", at(6)+" INFO b6")
	ts := newTestServer(t, a, b)
	ts.waitRing(t, a, 4)
	ts.waitRing(t, b, 3)

	q := query("format", "text")
	q["file"] = []string{b, a, b}
	resp, body := get(t, ts.URL+"/api/logs/download?"+q.Encode())
	want := strings.Join([]string{
		a + ": " + at(1) + " INFO a1",
		a + ": " + "  a1 continued",
		b + ": " + at(2) + " INFO b2",
		a + ": " + at(3) + " ERROR a3",
		b + ": " + at(4) + " ERROR b4",
		a + ": " + at(5) + " INFO a5",
		b + ": " + at(6) + " INFO b6",
	}, "\n") + "\n"
	if resp.StatusCode != 200 || body != want {
		t.Errorf("merged text: %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=merged.log" {
		t.Errorf("merged text: Content-Disposition %q", cd)
	}

	q = query("format", "ndjson", "level", "error")
	q["file"] = []string{a, b}
	resp, body = get(t, ts.URL+"/api/logs/download?"+q.Encode())
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		var f frame
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("merged ndjson %q: %v", body, err)
		}
		got = append(got, f.File+" "+f.Line)
	}
	if w := []string{a + " " + at(3) + " ERROR a3", b + " " + at(4) + " ERROR b4"}; resp.StatusCode != 200 || strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Errorf("merged ndjson, level=error: %d %q, want %q", resp.StatusCode, got, w)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=merged.ndjson" {
		t.Errorf("merged ndjson: Content-Disposition %q", cd)
	}

	// Too many files, one not streamable, an empty name.
	many := logFiles(t, maxViewFiles+1)
	ts2 := newTestServer(t, many...)
	q = query()
	q["file"] = many
	if resp, body := get(t, ts2.URL+"/api/logs/download?"+q.Encode()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, fmt.Sprintf("at most %d files", maxViewFiles)) {
		t.Errorf("%d files: %d %q, want 400", len(many), resp.StatusCode, body)
	}
	q["file"] = many[:maxViewFiles]
	if resp, _ := get(t, ts2.URL+"/api/logs/download?"+q.Encode()); resp.StatusCode != 200 {
		t.Errorf("%d files: %d, want 200", maxViewFiles, resp.StatusCode)
	}
	q["file"] = []string{a, a + ".1"}
	if resp, body := get(t, ts.URL+"/api/logs/download?"+q.Encode()); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "cannot be streamed") {
		t.Errorf("a file not streamable among others: %d %q, want 403", resp.StatusCode, body)
	}
	q["file"] = []string{a, ""}
	if resp, body := get(t, ts.URL+"/api/logs/download?"+q.Encode()); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "file= is required") {
		t.Errorf("an empty file name among others: %d %q, want 400", resp.StatusCode, body)
	}

	// A stream socket is for one file.
	q = query()
	q["file"] = []string{a, b}
	ts.refused(t, q, http.StatusBadRequest, "one file per stream")
	q["file"] = []string{a, a}
	ts.stream(t, q).expect(at(1)+" INFO a1", "  a1 continued")
}

// logFiles returns the paths of n new empty files.
func logFiles(t *testing.T, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		paths = append(paths, logFile(t, fmt.Sprintf("f%d.log", i)))
	}
	return paths
}
