package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

func TestStreamsAppendedLines(t *testing.T) {
	path := logFile(t, "app.log")
	pre := appendLines(t, path, "first line", `{"level":"warn","time":"2025-01-02T03:04:05Z","msg":"old"}`)
	ts := newTestServer(t, path)
	c := ts.stream(t, query("file", path))

	got := c.expect("first line", `{"level":"warn","time":"2025-01-02T03:04:05Z","msg":"old"}`)
	if got[0].Offset != pre[0] || got[0].Level != "" || got[0].Time != "" || got[0].File != path {
		t.Errorf("first backfilled line: %s", got[0].raw)
	}
	if got[1].Offset != pre[1] || got[1].Level != "warn" || got[1].Time != "2025-01-02T03:04:05Z" {
		t.Errorf("second backfilled line: %s", got[1].raw)
	}
	if strings.Contains(got[0].raw, `"time"`) {
		t.Errorf("a line without a time has a time field: %s", got[0].raw)
	}

	lines := []struct{ text, level, time string }{
		{`{"time":"2025-03-04T05:06:07.5+02:00","level":"error","msg":"boom"}`, "error", "2025-03-04T05:06:07.5+02:00"},
		{`time=2025-03-04T05:06:08Z level=info msg="hello"`, "info", "2025-03-04T05:06:08Z"},
		{`2025-03-04 05:06:09 DEBUG cache warm`, "debug", "2025-03-04T05:06:09Z"},
		{`[warning] disk 91% full`, "warn", ""},
		{`no level, no time`, "", ""},
		{``, "", ""},
	}
	for round := range 3 { // several appends, read as they come
		var texts []string
		for _, l := range lines {
			texts = append(texts, l.text)
		}
		offsets := appendLines(t, path, texts...)
		for i, l := range lines {
			f := c.line()
			if f.Line != l.text || f.Offset != offsets[i] || f.Level != l.level || f.File != path || f.Rotated {
				t.Fatalf("round %d line %d: got %s, want %q at %d, level %q", round, i, f.raw, l.text, offsets[i], l.level)
			}
			if !sameTime(f.Time, l.time) {
				t.Errorf("line %q: time %q, want %q", l.text, f.Time, l.time)
			}
		}
	}

	// A line written in pieces arrives once, whole.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	f.WriteString("ERROR half ")
	f.WriteString("and the rest\n")
	if got := c.line(); got.Line != "ERROR half and the rest" || got.Offset != fi.Size() || got.Level != "error" {
		t.Errorf("line written in two pieces: %s", got.raw)
	}
}

// sameTime compares RFC 3339 times as instants; "" only equals "".
func sameTime(got, want string) bool {
	if got == "" || want == "" {
		return got == want
	}
	g, err1 := time.Parse(time.RFC3339Nano, got)
	w, err2 := time.Parse(time.RFC3339Nano, want)
	return err1 == nil && err2 == nil && g.Equal(w)
}

// filterLines are lines of every kind, for the filter tests.
var filterLines = []string{
	`{"level":"debug","msg":"cache hit"}`,              // 0
	`{"level":"info","msg":"request timeout retried"}`, // 1
	`{"level":"warn","msg":"slow TIMEOUT"}`,            // 2
	`{"level":"error","msg":"db error 42"}`,            // 3
	`plain line without a level`,                       // 4
	`ERROR err code 7`,                                 // 5
	`level=info msg="Timeouts: none"`,                  // 6
}

func pick(idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, filterLines[i])
	}
	return out
}

func TestFilters(t *testing.T) {
	tests := []struct {
		level, search string
		want          []string
	}{
		{"", "", filterLines},
		{"debug", "", filterLines},
		{"warn", "", pick(2, 3, 5)},
		{"WARNING", "", pick(2, 3, 5)},
		{"error", "", pick(3, 5)},
		{"", "timeout", pick(1, 2, 6)},
		{"", "TimeOut", pick(1, 2, 6)},
		{"", `/err(or)? (code )?\d+/`, pick(3, 5)},
		{"", "/^plain/", pick(4)},
		{"", "/", nil}, // the substring "/"
		{"info", "/time/", pick(1, 2, 6)},
		{"error", "/\\d/", pick(3, 5)},
		{"", "no such text", nil},
	}
	for _, tc := range tests {
		t.Run(tc.level+" "+tc.search, func(t *testing.T) {
			path := logFile(t, "app.log")
			appendLines(t, path, filterLines...)
			ts := newTestServer(t, path)
			ts.waitRing(t, path, uint64(len(filterLines)))
			c := ts.stream(t, query("level", tc.level, "search", tc.search))
			// Backfilled, then live: both filtered. The marker passes every
			// filter, and proves that nothing else came before it.
			marker := `{"level":"error","msg":"marker /timeout error 1"}`
			if tc.search == "/^plain/" {
				marker = "plain marker ERROR"
			}
			if tc.search == "/" || tc.search == "no such text" {
				marker = "ERROR no such text / timeout"
			}
			c.expect(tc.want...)
			appendLines(t, path, append(slices.Clone(filterLines), marker)...)
			c.expect(append(slices.Clone(tc.want), marker)...)
		})
	}
}

func TestInvalidFiltersAreRefused(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	ts.refused(t, query("level", "loud"), http.StatusBadRequest, `invalid filter: unknown level "loud"`)
	ts.refused(t, query("search", "/([a-/"), http.StatusBadRequest, "invalid filter: invalid search regexp")
	ts.refused(t, query("level", "error", "search", "/(?P<x/"), http.StatusBadRequest, "invalid filter")
	ts.refused(t, query("search", "bad \xff utf-8"), http.StatusBadRequest, "invalid filter")
}

// TestFilterChangeWhileLive changes a live client's filter by messages on
// the same socket.
func TestFilterChangeWhileLive(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path, filterLines...)
	ts := newTestServer(t, path)
	c := ts.stream(t, nil)
	c.expect(filterLines...)
	ts.waitLive(t, path, 1)

	c.send(`{"level":"error"}`)
	ack := c.next()
	if ack.Filter == nil || *ack.Filter != (filterState{Level: "error"}) || ack.isLine() {
		t.Fatalf("got %s, want the filter's acknowledgement", ack.raw)
	}
	c.expect(pick(3, 5)...) // the refill: the last matching lines
	appendLines(t, path, filterLines...)
	c.expect(pick(3, 5)...)

	// An invalid filter is reported; the old one stays.
	for _, bad := range []string{`{"level":"loud"}`, `{"search":"/(/"}`, `{"lvl":"error"}`, `not json`, `{"level":"info","backfill":-1}`} {
		c.send(bad)
		if f := c.next(); f.Error == "" || f.isLine() {
			t.Fatalf("after %s: got %s, want an error frame", bad, f.raw)
		}
	}
	appendLines(t, path, filterLines...)
	c.expect(pick(3, 5)...)
	// The refill below is the last matching line: let the follower read
	// past line 5 first.
	ts.waitRing(t, path, uint64(3*len(filterLines)))

	// Level and search together, with a refill of 1.
	c.send(`{"level":"info","search":"TIMEOUT","backfill":1}`)
	if f := c.next(); f.Filter == nil || *f.Filter != (filterState{Level: "info", Search: "TIMEOUT"}) {
		t.Fatalf("got %s, want the acknowledgement", f.raw)
	}
	c.expect(filterLines[6])
	appendLines(t, path, filterLines...)
	c.expect(pick(1, 2, 6)...)

	// Back to no filter, and no refill.
	c.send(`{"backfill":0}`)
	if f := c.next(); f.Filter == nil || *f.Filter != (filterState{}) {
		t.Fatalf("got %s, want the acknowledgement", f.raw)
	}
	appendLines(t, path, filterLines...)
	c.expect(filterLines...)

	// The lines above may have come from the catch-up that follows a
	// change, which ends with the client joining its group: wait for it.
	testkit.Eventually(t, "1 live client in 1 group after the changes", func() bool {
		subs, groups := ts.app.streams[path].live()
		return subs == 1 && groups == 1
	})
}

// TestFilterChangesInABurst sends many filter changes at once: the server
// carries out at most one per refillEvery (each rescans the ring, which
// costs CPU), always the last one received, and acknowledges each it
// carries out.
func TestFilterChangesInABurst(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	c := ts.stream(t, query("backfill", "0"))
	ts.waitLive(t, path, 1)
	s := ts.app.streams[path]

	const burst = 200
	start := time.Now()
	for i := range burst {
		c.send(fmt.Sprintf(`{"level":%q}`, []string{"error", "warn"}[i%2]))
	}
	c.send(`{"search":"final-marker"}`)
	acks := 0
	for {
		f := c.next()
		if f.Filter == nil {
			t.Fatalf("got %s, want only acknowledgements (no refill: backfill=0)", f.raw)
		}
		acks++
		if f.Filter.Search == "final-marker" {
			break
		}
	}
	elapsed := time.Since(start)
	refills := s.refills.Load()
	if max := uint64(elapsed/refillEvery) + 2; refills > max {
		t.Errorf("%d filter changes carried out in %v, want at most %d (one per %v)", refills, elapsed, max, refillEvery)
	}
	if uint64(acks) != refills {
		t.Errorf("%d acknowledgements for %d changes carried out", acks, refills)
	}
	t.Logf("%d of %d filter changes carried out in %v", refills, burst+1, elapsed)

	// The last one is in force.
	appendLines(t, path, "ERROR not this", "INFO final-marker here")
	c.expect("INFO final-marker here")
}

// TestFilterChangeDuringCatchUp sends a filter while a large backfill is
// still being sent. Whatever the server had sent by then, the client sees
// a prefix of the backfill, the acknowledgement, the refill under the new
// filter, then live lines: nothing out of place.
func TestFilterChangeDuringCatchUp(t *testing.T) {
	path := logFile(t, "app.log")
	const n = 3000
	var lines []string
	for i := range n {
		lvl := []string{"DEBUG", "INFO", "WARN", "ERROR"}[i%4]
		lines = append(lines, fmt.Sprintf("%s line %04d %s", lvl, i, strings.Repeat("x", 100)))
	}
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, n)
	c := ts.stream(t, query("backfill", fmt.Sprint(n)))
	c.send(`{"level":"error","backfill":25}`)

	i := 0
	for {
		f := c.next()
		if f.Filter != nil {
			break
		}
		if !f.isLine() || f.Line != lines[i] {
			t.Fatalf("before the acknowledgement, frame %d is %s, want %q", i, f.raw, lines[i])
		}
		i++
	}
	t.Logf("%d lines of the backfill were sent before the filter changed", i)
	var errs []string
	for j := range n {
		if j%4 == 3 {
			errs = append(errs, lines[j])
		}
	}
	c.expect(errs[len(errs)-25:]...)
	appendLines(t, path, "INFO not me", "ERROR me")
	c.expect("ERROR me")
}

func TestFileAccessRules(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendLines(t, a, "from a")
	appendLines(t, b, "from b")
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "other.log"), []byte("secret\n"), 0o644)
	ts := newTestServer(t, a, b)

	for _, file := range []string{
		filepath.Join(dir, "other.log"),
		dir + "/sub/../a.log",
		dir + "//a.log",
		"./" + a,
		link,
		"a.log",
		"/etc/passwd",
		"../../../../../../etc/passwd",
		dir,
		a + "\x00",
		strings.ToUpper(a),
	} {
		ts.refused(t, query("file", file), http.StatusForbidden, "cannot be streamed")
	}
	ts.refused(t, nil, http.StatusBadRequest, "file= is required")
	ts.refused(t, query("file", ""), http.StatusBadRequest, "file= is required")

	ca := ts.stream(t, query("file", a))
	ca.expect("from a")
	cb := ts.stream(t, query("file", b))
	if f := cb.line(); f.Line != "from b" || f.File != b {
		t.Errorf("b's client got %s", f.raw)
	}

	resp, body := get(t, ts.URL+"/api/files")
	var files []string
	if err := json.Unmarshal([]byte(body), &files); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/api/files: %q (%v)", body, err)
	}
	if !slices.Equal(files, []string{a, b}) {
		t.Errorf("/api/files lists %q, want %q", files, []string{a, b})
	}
}

func TestSingleFileNeedsNoFileParameter(t *testing.T) {
	path := logFile(t, "only.log")
	appendLines(t, path, "hello")
	ts := newTestServer(t, path)
	c := ts.stream(t, nil)
	if f := c.line(); f.Line != "hello" || f.File != path {
		t.Errorf("got %s", f.raw)
	}
	ts.stream(t, query("file", path)).expect("hello")
	ts.refused(t, query("file", path+".1"), http.StatusForbidden, "cannot be streamed")
}

// TestRelativeFileName: a file given as a relative path is streamed under
// that name only.
func TestRelativeFileName(t *testing.T) {
	path := logFile(t, "rel.log")
	appendLines(t, path, "relative")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, rel, logFile(t, "second.log"))
	if f := ts.stream(t, query("file", rel)).line(); f.Line != "relative" || f.File != rel {
		t.Errorf("got %s", f.raw)
	}
	ts.refused(t, query("file", path), http.StatusForbidden, "cannot be streamed")
}

func TestBackfill(t *testing.T) {
	path := logFile(t, "app.log")
	var lines []string
	for i := range 150 {
		lvl := "INFO"
		if i%10 == 0 {
			lvl = "ERROR"
		}
		lines = append(lines, fmt.Sprintf("%s line %03d", lvl, i))
	}
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 150)

	tests := []struct {
		q    []string
		want []string
	}{
		{nil, lines[50:]}, // default: 100
		{[]string{"backfill", "5"}, lines[145:]},
		{[]string{"backfill", "0"}, nil},
		{[]string{"backfill", "150"}, lines},
		{[]string{"backfill", "1000"}, lines},
		{[]string{"backfill", "2", "level", "error"}, []string{lines[130], lines[140]}},
		{[]string{"backfill", "3", "search", "/line 00[0-9]/"}, lines[7:10]},
	}
	var clients []*client
	for _, tc := range tests {
		c := ts.stream(t, query(tc.q...))
		c.expect(tc.want...)
		clients = append(clients, c)
	}
	// Then the live lines, nothing in between.
	appendLines(t, path, "ERROR line 009 marker")
	for i, c := range clients {
		if f := c.line(); f.Line != "ERROR line 009 marker" {
			t.Errorf("client %v: got %s, want the marker", tests[i].q, f.raw)
		}
	}

	for _, bad := range []string{"abc", "-1", "1.5", "1e3", "99999999999999999999", " 5"} {
		ts.refused(t, query("backfill", bad), http.StatusBadRequest, "invalid backfill")
	}
}

func TestBackfillMax(t *testing.T) {
	path := logFile(t, "big.log")
	const n = maxBackfill + 50
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %05d", i)
	}
	ts := newTestServer(t, path)
	appendLines(t, path, lines...) // more than the ring keeps
	ts.waitRing(t, path, n)
	c := ts.stream(t, query("backfill", "20000"))
	c.expect(lines[n-maxBackfill:]...)
	appendLines(t, path, "after")
	c.expect("after")
}

func TestResumeSince(t *testing.T) {
	path := logFile(t, "app.log")
	var lines []string
	for i := range 20 {
		lvl := "INFO"
		if i%5 == 0 {
			lvl = "ERROR"
		}
		lines = append(lines, fmt.Sprintf("%s line %02d", lvl, i))
	}
	offsets := appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 20)
	gen := ts.app.streams[path].genName(0)
	at := func(off int64) string { return fmt.Sprintf("%s:%d", gen, off) }
	gap := []string{gapText}

	tests := []struct {
		name string
		q    []string
		want []string // gapText for the gap frame
	}{
		{"after line 9", []string{"since", at(offsets[9])}, lines[10:]},
		{"after the last line", []string{"since", at(offsets[19])}, nil},
		{"inside line 5", []string{"since", at(offsets[5] + 3)}, lines[6:]},
		{"after the first line", []string{"since", at(0)}, lines[1:]},
		{"backfill ignored", []string{"since", at(offsets[17]), "backfill", "0"}, lines[18:]},
		{"filtered", []string{"since", at(offsets[4]), "level", "error"}, []string{lines[5], lines[10], lines[15]}},
		// Without a generation (the older since=OFFSET), or with one the
		// server does not know (another run of it, another file), nothing
		// proves the offset is in this file: a gap, then the lines after
		// the offset in the current file, or all of them when it is beyond
		// its end (it was rotated since).
		{"offset only", []string{"since", fmt.Sprint(offsets[9])}, append(gap, lines[10:]...)},
		{"offset only, beyond the end", []string{"since", "100000"}, append(gap, lines...)},
		{"unknown generation", []string{"since", "0123abc-0:" + fmt.Sprint(offsets[9])}, append(gap, lines[10:]...)},
		{"a generation to come", []string{"since", ts.app.streams[path].genName(1) + ":0"}, append(gap, lines[1:]...)},
	}
	var clients []*client
	for _, tc := range tests {
		c := ts.stream(t, query(tc.q...))
		for _, want := range tc.want {
			if f := c.next(); f.text() != want {
				t.Fatalf("%s: got %s, want %q", tc.name, f.raw, want)
			}
		}
		clients = append(clients, c)
	}
	appendLines(t, path, "ERROR live")
	for i, c := range clients {
		if f := c.next(); f.Line != "ERROR live" {
			t.Errorf("%s: got %s, want the live line", tests[i].name, f.raw)
		}
	}

	// A client that drops and comes back with the position of the last
	// line it got, after lines were written meanwhile, gets each of them
	// once.
	c := ts.stream(t, query("backfill", "1"))
	last := c.expect("ERROR live")[0]
	c.ws.Close()
	appendLines(t, path, "while away 1", "while away 2")
	c = ts.stream(t, query("since", last.pos()))
	c.expect("while away 1", "while away 2")
	appendLines(t, path, "back")
	c.expect("back")

	for _, bad := range []string{"-1", "x", "1.0", "99999999999999999999", ":5", gen + ":", gen + ":-1", "A-0:5", "a/b:5", strings.Repeat("a", 65) + ":5"} {
		ts.refused(t, query("since", bad), http.StatusBadRequest, "invalid since")
	}
}

// gapText is how frame.text shows the gap frame.
const gapText = "<gap>"

// text is the line of a line frame, gapText for the gap frame, the raw
// frame otherwise.
func (f frame) text() string {
	switch {
	case f.isLine():
		return f.Line
	case f.Error == errGap:
		return gapText
	}
	return f.raw
}

// TestResumeGap: when the ring no longer reaches back to since, the client
// is told, then gets the oldest lines kept.
func TestResumeGap(t *testing.T) {
	path := logFile(t, "app.log")
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("line %02d", i))
	}
	ts := newTestServerWith(t, config{Files: []string{path}, RingSize: 10})
	offsets := appendLines(t, path, lines...)
	ts.waitRing(t, path, 30)
	gen := ts.app.streams[path].genName(0)

	c := ts.stream(t, query("since", fmt.Sprintf("%s:%d", gen, offsets[2])))
	if f := c.next(); f.Error != "gap" {
		t.Fatalf("got %s, want the gap frame", f.raw)
	}
	c.expect(lines[20:]...)
	// since at the oldest line kept, or at the one just before: no gap.
	c = ts.stream(t, query("since", fmt.Sprintf("%s:%d", gen, offsets[20])))
	c.expect(lines[21:]...)
	c = ts.stream(t, query("since", fmt.Sprintf("%s:%d", gen, offsets[19])))
	c.expect(lines[20:]...)
	c = ts.stream(t, query("since", fmt.Sprintf("%s:%d", gen, offsets[18])))
	if f := c.next(); f.Error != "gap" {
		t.Fatalf("got %s, want the gap frame", f.raw)
	}
	// The default backfill is bounded by the ring too.
	ts.stream(t, nil).expect(lines[20:]...)
}

// TestRotation renames the file away and creates a new one while a client
// watches: the new file's lines arrive, from offset 0.
func TestRotation(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	c := ts.stream(t, nil)
	ts.waitLive(t, path, 1)
	const old1 = "old 1, longer than the whole new file will be"
	old := appendLines(t, path, old1, "old 2")
	got0 := c.expect(old1, "old 2")
	if got0[1].Offset != old[1] {
		t.Errorf("old 2 at %d, want %d", got0[1].Offset, old[1])
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, "new 1", "new 2")
	got := c.expect("new 1", "new 2")
	if got[0].Offset != 0 || !got[0].Rotated || got[1].Offset != 6 || got[1].Rotated {
		t.Errorf("after rotation: %s, %s", got[0].raw, got[1].raw)
	}
	if got[0].Gen == got0[1].Gen || got[1].Gen != got[0].Gen {
		t.Errorf("generations %q, then %q and %q: want a new one from the rotation on", got0[1].Gen, got[0].Gen, got[1].Gen)
	}
	appendLines(t, path, "new 3")
	c.expect("new 3")

	// Resuming after the old file's last line: the new file from its
	// start, no gap.
	r := ts.stream(t, query("since", got0[1].pos()))
	r.expect("new 1", "new 2", "new 3")

	// Truncation in place (copytruncate) too.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, "after truncation")
	if f := c.line(); f.Line != "after truncation" || f.Offset != 0 || !f.Rotated {
		t.Errorf("after truncation: %s", f.raw)
	}
}

// TestOneReaderPerFile: however many clients watch, each file has one
// follower, and clients with the same filter share one hub room.
func TestOneReaderPerFile(t *testing.T) {
	a, b := logFile(t, "a.log"), logFile(t, "b.log")
	ts := newTestServer(t, a, b)
	if n := ts.app.follows.Load(); n != 2 {
		t.Fatalf("%d followers for 2 files", n)
	}
	var clients []*client
	for i := range 5 {
		q := query("file", a)
		if i >= 3 {
			q.Set("level", "error")
		}
		clients = append(clients, ts.stream(t, q))
	}
	cb := ts.stream(t, query("file", b))
	ts.waitLive(t, a, 5)
	ts.waitLive(t, b, 1)
	if subs, groups := ts.app.streams[a].live(); subs != 5 || groups != 2 {
		t.Errorf("a: %d live clients in %d groups, want 5 in 2", subs, groups)
	}
	sa, sb := ts.app.streams[a], ts.app.streams[b]
	beforeA, beforeB := sa.published.Load(), sb.published.Load()

	appendLines(t, a, "INFO one", "ERROR two")
	appendLines(t, b, "INFO for b")
	for i, c := range clients {
		if i < 3 {
			c.expect("INFO one", "ERROR two")
		} else {
			c.expect("ERROR two")
		}
	}
	cb.expect("INFO for b")
	if n := ts.app.follows.Load(); n != 2 {
		t.Errorf("%d followers for 2 files after 6 clients", n)
	}
	// One publish per line and matching group: 2 + 1 for a, 1 for b.
	if pa, pb := sa.published.Load()-beforeA, sb.published.Load()-beforeB; pa != 3 || pb != 1 {
		t.Errorf("%d and %d messages published to the hub for a and b, want 3 and 1", pa, pb)
	}

	for _, c := range clients {
		c.ws.Close()
	}
	ts.waitLive(t, a, 0)
	if _, groups := ts.app.streams[a].live(); groups != 0 {
		t.Errorf("%d groups left without members", groups)
	}
}

// The app's own log is not served unless asked for: it names every
// viewer's address and search, and the files they probed.
func TestSelfLogIsOffByDefault(t *testing.T) {
	ts := newTestServer(t, logFile(t, "app.log"))
	if _, status, _, err := ts.tryDial("/api/logs/self", nil); err == nil || status != http.StatusNotFound {
		t.Errorf("/api/logs/self without SelfLog: %d, want 404", status)
	}
}

func TestSelfLog(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServerWith(t, config{Files: []string{path}, SelfLog: true})
	c := ts.dial(t, "/api/logs/self", nil)
	testkit.Eventually(t, "the self client in its room", func() bool { return ts.app.hub.Count(selfRoom) == 1 })

	ts.refused(t, query("file", "/etc/shadow"), http.StatusForbidden, "cannot be streamed")
	prev := int64(-1)
	for {
		f := c.next()
		if f.File != "self" || f.Offset <= prev || f.Time == "" {
			t.Fatalf("self frame %s", f.raw)
		}
		prev = f.Offset
		var rec map[string]any
		if err := json.Unmarshal([]byte(f.Line), &rec); err != nil {
			t.Fatalf("self line %q: %v", f.Line, err)
		}
		if rec["msg"] == "refused a file not on the command line" {
			if f.Level != "warn" || rec["file"] != "/etc/shadow" || rec["level"] != "WARN" {
				t.Errorf("self record %s", f.raw)
			}
			break
		}
	}
	if !strings.Contains(ts.log.String(), `msg="refused a file not on the command line" file=/etc/shadow`) {
		t.Errorf("the record did not go to the text log too:\n%s", ts.log.String())
	}
}

// TestLinesArriveVerbatim: markup, quotes and control characters arrive as
// they are; invalid UTF-8 becomes U+FFFD (a text frame must be UTF-8).
func TestLinesArriveVerbatim(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	c := ts.stream(t, nil)
	lines := []string{
		`<img src=x onerror=alert(1)>`,
		`</script><script>alert("x")</script> & &amp; 'single'`,
		"tab\there \u2028 line separator \\ backslash {\"json\":true}",
		"ünïcödé ✓ 日本語",
	}
	appendLines(t, path, lines...)
	got := c.expect(lines...)
	if !strings.Contains(got[0].raw, `"line":"<img src=x onerror=alert(1)>"`) {
		t.Errorf("frame %s: markup escaped or changed", got[0].raw)
	}
	appendLines(t, path, "bad \xff\xfe byte")
	if f := c.line(); f.Line != "bad \ufffd\ufffd byte" {
		t.Errorf("invalid UTF-8: got %q", f.Line)
	}
}

func TestPageAndHeaders(t *testing.T) {
	ts := newTestServer(t, logFile(t, "app.log"))
	resp, body := get(t, ts.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script src="/static/logstream.js" defer></script>`) {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if strings.Contains(body, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("inline script in the page")
	}
	// The library's client first, the page's own script last: the others
	// define what it uses.
	scripts := []string{"/sockets.js", "/static/merge.js", "/static/source.js", "/static/filepick.js", "/static/structured.js", "/static/logstream.js"}
	var tags []string
	for _, src := range scripts {
		tags = append(tags, `<script src="`+src+`" defer></script>`)
	}
	if !strings.Contains(body, strings.Join(tags, "\n")) {
		t.Errorf("the page does not load %q in this order", scripts)
	}
	for _, p := range append(scripts, "/static/logstream.css") {
		if resp, _ := get(t, ts.URL+p); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	for _, src := range scripts[1:] {
		js, _ := os.ReadFile(strings.TrimPrefix(src, "/"))
		if len(js) == 0 || strings.Contains(string(js), "innerHTML") || strings.Contains(string(js), "insertAdjacentHTML") || strings.Contains(string(js), "outerHTML") {
			t.Errorf("%s is missing or uses innerHTML: log lines and file names must only be text", src)
		}
	}
}

func TestNewAppErrors(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{nil, "no file"},
		{[]string{a, dir + "/./a.log"}, "name the same file"},
		{[]string{dir}, "not a regular file"},
		{[]string{filepath.Join(dir, "nowhere", "a.log")}, "no directory"},
	} {
		_, err := newApp(config{Files: tc.files, LogOutput: &syncBuffer{}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newApp(%q): %v, want an error with %q", tc.files, err, tc.want)
		}
	}
	// A file that does not exist yet is waited for.
	ts := newTestServer(t, a)
	c := ts.stream(t, nil)
	ts.waitLive(t, a, 1)
	appendLines(t, a, "created")
	c.expect("created")
}

// With AllowedHosts (main sets the names of its listen address), a page
// reaching the viewer through a rebinding name of its own gets 403.
func TestForeignHostIsRefused(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServerWith(t, config{Files: []string{path}, AllowedHosts: sockets.ListenHosts("127.0.0.1:4001")})
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/logs/stream?" + url.Values{"file": {path}}.Encode()
	_, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Host": {"rebind.attacker.test:4001"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign Host: %v, want 403", err)
	}
	ts.stream(t, url.Values{"file": {path}})
}
