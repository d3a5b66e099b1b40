package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// TestDownload: GET /api/logs/download answers the ring's lines that pass
// the filter, as an attachment: the raw lines (markup as it is: it is a
// file, not a page), or their frames as NDJSON; the same file and filter
// rules as the stream; the Host checked as the sockets check it.
func TestDownload(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	lines := []string{
		`INFO <b>bold</b> & "quoted" <script>alert(1)</script>`,
		"ERROR payment timeout",
		"DEBUG noise",
		`{"level":"warn","msg":"timeout, retrying <i>soon</i>"}`,
		"continuation without a level: timeout",
	}
	appendLines(t, a, lines...)
	appendLines(t, b, "INFO db")
	ts := newTestServerWith(t, config{Files: []string{a, b}, AllowedHosts: sockets.ListenHosts("127.0.0.1:4001")})
	ts.waitRing(t, a, uint64(len(lines)))
	download := func(kv ...string) (*http.Response, string) {
		t.Helper()
		return get(t, ts.URL+"/api/logs/download?"+query(kv...).Encode())
	}

	// Text: every line, verbatim.
	resp, body := download("file", a)
	if resp.StatusCode != 200 || body != strings.Join(lines, "\n")+"\n" {
		t.Fatalf("text download: %d %q", resp.StatusCode, body)
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "text/plain; charset=utf-8" || cd != `attachment; filename=app.log` {
		t.Errorf("text download: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	// Filtered: the level and the search as the stream reads them.
	resp, body = download("file", a, "level", "warn", "search", "TIMEOUT")
	if want := lines[1] + "\n" + lines[3] + "\n"; resp.StatusCode != 200 || body != want {
		t.Errorf("level=warn, search=TIMEOUT: %d %q, want %q", resp.StatusCode, body, want)
	}
	resp, body = download("file", a, "search", "/time.ut|<b>/", "format", "text")
	if want := lines[0] + "\n" + lines[1] + "\n" + lines[3] + "\n" + lines[4] + "\n"; resp.StatusCode != 200 || body != want {
		t.Errorf("a regexp: %d %q, want %q", resp.StatusCode, body, want)
	}

	// NDJSON: the frames, as the stream sends them.
	resp, body = download("file", a, "level", "info", "format", "ndjson")
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || ct != "application/x-ndjson" || cd != `attachment; filename=app.log.ndjson` {
		t.Errorf("ndjson download: %d, Content-Type %q, Content-Disposition %q", resp.StatusCode, ct, cd)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var got []frame
	for dec.More() {
		var f frame
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("ndjson download %q: %v", body, err)
		}
		got = append(got, f)
	}
	want := []struct{ line, level string }{{lines[0], "info"}, {lines[1], "error"}, {lines[3], "warn"}}
	if len(got) != len(want) || strings.Count(body, "\n") != len(want) {
		t.Fatalf("ndjson download: %q, want %d lines", body, len(want))
	}
	for i, w := range want {
		if got[i].Line != w.line || got[i].Level != w.level || got[i].File != a || got[i].Gen == "" {
			t.Errorf("ndjson line %d: %+v, want line %q level %s", i, got[i], w.line, w.level)
		}
	}
	if got[1].Offset != int64(len(lines[0])+1) {
		t.Errorf("ndjson line 1 at offset %d", got[1].Offset)
	}
	if !bytes.Contains([]byte(body), []byte("<b>bold</b> & ")) {
		t.Errorf("ndjson download escapes markup: %q", body)
	}

	// Refusals, in plain text.
	for _, c := range []struct {
		q      url.Values
		status int
		want   string
	}{
		{query("file", a+".1"), http.StatusForbidden, "cannot be streamed"},
		{query("file", "../"+a), http.StatusForbidden, "cannot be streamed"},
		{query(), http.StatusBadRequest, "file= is required"},
		{query("file", a, "search", "/(unclosed/"), http.StatusBadRequest, "invalid filter"},
		{query("file", a, "level", "loud"), http.StatusBadRequest, "invalid filter"},
		{query("file", a, "format", "html"), http.StatusBadRequest, "invalid format"},
	} {
		resp, body := get(t, ts.URL+"/api/logs/download?"+c.q.Encode())
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) || resp.Header.Get("Content-Disposition") != "" {
			t.Errorf("?%s: %d %q, want %d with %q", c.q.Encode(), resp.StatusCode, body, c.status, c.want)
		}
	}

	// A foreign Host: a page of another site, DNS-rebound to this server.
	req, err := http.NewRequest("GET", ts.URL+"/api/logs/download?"+query("file", a).Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "rebind.attacker.test:4001"
	resp, err = (&http.Client{Timeout: testkit.Wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign Host: %d, want 403", resp.StatusCode)
	}
}

// Every route checks the Host, not the sockets only: the page and the file
// list (which names the files) are 403 for a foreign Host.
func TestForeignHostGetsNoPage(t *testing.T) {
	ts := newTestServerWith(t, config{Files: []string{logFile(t, "app.log")}, AllowedHosts: []string{"127.0.0.1"}})
	for _, path := range []string{"/", "/api/files", "/static/logstream.js"} {
		req, err := http.NewRequest("GET", ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for host, want := range map[string]int{"rebind.attacker.test": http.StatusForbidden, req.Host: http.StatusOK} {
			req.Host = host
			resp, err := (&http.Client{Timeout: testkit.Wait}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s with Host %s: %d, want %d", path, host, resp.StatusCode, want)
			}
		}
	}
}
