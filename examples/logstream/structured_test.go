package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// structuredLines are JSON, logfmt and plain lines with a status each.
var structuredLines = []string{
	`{"time":"2025-06-07T08:09:00Z","level":"info","msg":"GET /","status":200,"user":"ann","req":{"ms":12}}`, // 0
	`{"time":"2025-06-07T08:09:01Z","level":"error","msg":"GET /pay","status":502,"user":"bob"}`,             // 1
	`time=2025-06-07T08:09:02Z level=warn msg="slow query" status=500 user=Ann`,                              // 2
	"2025-06-07 08:09:03 ERROR payment failed status=503 user=carl",                                          // 3: plain
	"INFO plain line without fields", // 4
}

// TestStructuredFrames: the frame of a JSON or logfmt line carries its
// message and its other fields, in the line's order (the fields of its
// columns left out); a plain line's frame has neither, as before; markup in
// keys and values arrives as it is, invalid UTF-8 as U+FFFD.
func TestStructuredFrames(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	c := ts.stream(t, nil)
	xss := `{"level":"warn","msg":"<img src=x onerror=alert(1)>","<img src=x onerror=alert(2)>":"<script>alert(3)</script>"}`
	ts.waitLive(t, path, 1)
	lines := append(slices.Clone(structuredLines), xss, "x=1 bad\xffkey=bad\xffvalue")
	appendLines(t, path, lines...)
	lines[len(lines)-1] = strings.ToValidUTF8(lines[len(lines)-1], "\ufffd")
	got := c.expect(lines...)

	tests := []struct {
		msg    string
		fields map[string]string // nil: a plain line
		raw    string            // the frame's fields as written, if not ""
	}{
		{"GET /", map[string]string{"status": "200", "user": "ann", "req.ms": "12"}, `"msg":"GET /","fields":{"status":"200","user":"ann","req.ms":"12"}`},
		{"GET /pay", map[string]string{"status": "502", "user": "bob"}, ""},
		{"slow query", map[string]string{"status": "500", "user": "Ann"}, `"fields":{"status":"500","user":"Ann"}`},
		{"", nil, ""},
		{"", nil, ""},
		{"<img src=x onerror=alert(1)>", map[string]string{"<img src=x onerror=alert(2)>": "<script>alert(3)</script>"}, `"fields":{"<img src=x onerror=alert(2)>":"<script>alert(3)</script>"}`},
		{"", map[string]string{"x": "1", "bad\ufffdkey": "bad\ufffdvalue"}, ""}, // a text frame is UTF-8
	}
	for i, tc := range tests {
		f := got[i]
		if !utf8.ValidString(f.raw) {
			t.Errorf("line %d: frame %q is not UTF-8", i, f.raw)
		}
		if f.Msg != tc.msg || !maps.Equal(f.Fields, tc.fields) || (f.Fields == nil) != (tc.fields == nil) {
			t.Errorf("line %d: msg %q fields %v, want %q %v (%s)", i, f.Msg, f.Fields, tc.msg, tc.fields, f.raw)
		}
		if tc.raw != "" && !strings.Contains(f.raw, tc.raw) {
			t.Errorf("line %d: frame %s, want it to contain %s", i, f.raw, tc.raw)
		}
		if tc.fields == nil && (strings.Contains(f.raw, `"fields"`) || strings.Contains(f.raw, `"msg"`)) {
			t.Errorf("a plain line's frame %s has fields", f.raw)
		}
	}
	// The existing members keep their meaning.
	if f := got[0]; f.Line != structuredLines[0] || f.Level != "info" || f.Time != "2025-06-07T08:09:00Z" {
		t.Errorf("a JSON line's frame: %s", f.raw)
	}
}

// TestFieldSearchOverSocket: a field search filters the backfill and the
// live lines, given in the URL or in a filter message; a bad term is a 400
// before the upgrade, and an error frame on the socket (the old filter
// stays); the download applies it too.
func TestFieldSearchOverSocket(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path, structuredLines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, uint64(len(structuredLines)))

	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, structuredLines[i])
		}
		return out
	}
	c := ts.stream(t, query("search", "status>=500"))
	c.expect(pick(1, 2, 3)...)
	ts.waitLive(t, path, 1)
	appendLines(t, path, structuredLines...)
	c.expect(pick(1, 2, 3)...)

	// Changed on the socket: two terms.
	c.send(`{"search":"status>=500 user=ann","backfill":10}`)
	if f := c.next(); f.Filter == nil || f.Filter.Search != "status>=500 user=ann" {
		t.Fatalf("got %s, want the acknowledgement", f.raw)
	}
	c.expect(pick(2, 2)...) // the refill: both copies
	// A bad term: an error frame, and the filter stays.
	c.send(`{"search":"status>=abc"}`)
	if f := c.next(); f.isLine() || !strings.Contains(f.Error, `invalid filter: search term "status>=abc": >= compares numbers`) {
		t.Fatalf("got %s, want an error frame about the term", f.raw)
	}
	appendLines(t, path, structuredLines...)
	c.expect(pick(2)...)

	ts.refused(t, query("search", "status>=abc"), http.StatusBadRequest, `invalid filter: search term "status>=abc"`)
	ts.refused(t, query("search", "a=1 b=1 c=1 d=1 e=1 f=1 g=1 h=1 i=1 j=1 k=1 l=1 m=1 n=1 o=1 p=1 q=1"), http.StatusBadRequest, "at most 16")

	// The download: the same filter, text and NDJSON, once the follower
	// has read all three copies.
	ts.waitRing(t, path, uint64(3*len(structuredLines)))
	resp, body := get(t, ts.URL+"/api/logs/download?"+query("search", "user!=ann status>=500", "level", "error").Encode())
	if want := strings.Repeat(structuredLines[1]+"\n"+structuredLines[3]+"\n", 3); resp.StatusCode != 200 || body != want {
		t.Errorf("download: %d %q, want %q", resp.StatusCode, body, want)
	}
	resp, body = get(t, ts.URL+"/api/logs/download?"+query("search", "req.ms<20", "format", "ndjson").Encode())
	var f frame
	if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&f); resp.StatusCode != 200 || err != nil || strings.Count(body, "\n") != 3 || f.Fields["req.ms"] != "12" {
		t.Errorf("ndjson download: %d %q (%v)", resp.StatusCode, body, err)
	}
}
