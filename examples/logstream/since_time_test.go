package main

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
)

// TestBackfillSinceTime: since_time= replaces the backfill by the kept lines
// whose time is at or after it, a line without a time going with the line
// before it; then the live lines, none missing or twice. since= wins over
// it.
func TestBackfillSinceTime(t *testing.T) {
	path := logFile(t, "app.log")
	lines := []string{
		"preamble without a time",
		"2025-06-07T08:00:00Z INFO a",
		"  continuation of a",
		"2025-06-07T08:01:00Z ERROR b",
		"  continuation of b",
		`{"time":"2025-06-07T08:02:00Z","level":"info","msg":"c"}`,
		"2025-06-07T07:59:00Z WARN stamped earlier",
		"  continuation of the earlier one",
		"2025-06-07 08:03:00 INFO d",
	}
	offsets := appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, uint64(len(lines)))

	tests := []struct {
		q    []string
		want []string
	}{
		{[]string{"since_time", "2025-06-07T08:01:00Z"}, []string{lines[3], lines[4], lines[5], lines[8]}},
		{[]string{"since_time", "2025-06-07T10:01:00+02:00"}, []string{lines[3], lines[4], lines[5], lines[8]}},
		{[]string{"since_time", "2025-06-07T08:00:59.999Z", "level", "error"}, []string{lines[3]}},
		{[]string{"since_time", "2025-06-07T08:00:00Z", "search", "continuation"}, []string{lines[2], lines[4]}},
		{[]string{"since_time", "2000-01-01T00:00:00Z"}, lines[1:]},
		{[]string{"since_time", "2030-01-01T00:00:00Z"}, nil},
		// since= resumes, whatever since_time says.
		{[]string{"since_time", "2030-01-01T00:00:00Z", "since", "0:0"}, nil},
	}
	var clients []*client
	for i, tc := range tests {
		if i == len(tests)-1 {
			gen := ts.stream(t, query("backfill", "1")).line().Gen
			tc.q[3] = gen + ":" + itoa(offsets[6])
			tc.want = lines[7:]
		}
		c := ts.stream(t, query(tc.q...))
		c.expect(tc.want...)
		clients = append(clients, c)
	}
	// Every client live (the one that found the generation too) before the
	// live line: a client still starting would count it among the kept
	// lines, which its since_time leaves out.
	ts.waitLive(t, path, len(clients)+1)
	appendLines(t, path, "ERROR a live continuation, without a time")
	for i, c := range clients {
		if f := c.line(); f.Line != "ERROR a live continuation, without a time" {
			t.Errorf("client %v: got %s, want the live line", tests[i].q, f.raw)
		}
	}

	for _, bad := range []string{"yesterday", "2025-06-07", "2025-06-07 08:00:00", "1717747200"} {
		ts.refused(t, query("since_time", bad), http.StatusBadRequest, "invalid since_time")
	}

	// The download selects the same lines (and the live one, now kept).
	for _, tc := range tests[:len(tests)-1] {
		resp, body := get(t, ts.URL+"/api/logs/download?"+query(tc.q...).Encode())
		want := strings.Join(append(slices.Clone(tc.want), "ERROR a live continuation, without a time"), "\n") + "\n"
		if len(tc.want) == 0 {
			want = "" // no line of that time, so none going with one
		}
		if resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("download %v: %d %q, want %q", tc.q, resp.StatusCode, body, want)
		}
	}
	resp, body := get(t, ts.URL+"/api/logs/download?"+query("since_time", "yesterday").Encode())
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid since_time") {
		t.Errorf("download since_time=yesterday: %d %q, want 400", resp.StatusCode, body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestBrowserSinceTime: a time picked in the page starts the view over from
// the lines of that time on, then the live ones.
func TestBrowserSinceTime(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path, "2025-06-07T08:00:00Z INFO a", "2025-06-07T08:01:00Z INFO b", "  continuation of b", "2025-06-07T08:02:00Z WARN c")
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 4)

	chromium := browser.New(t, 1000, 600)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/"))
	tb.WaitFor(connected)
	tb.WaitFor(lineCount + " === 4")
	// 08:01 UTC, in the browser's local time, as the control takes it.
	tb.Run(`(s => { const d = new Date("2025-06-07T08:01:00Z"); s.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19); s.dispatchEvent(new Event("change")); })(document.getElementById("since-time"))`)
	tb.WaitFor(lineCount + " === 3")
	if got, want := browser.Eval[string](tb.Tab, lineTexts), "2025-06-07T08:01:00Z INFO b\n  continuation of b\n2025-06-07T08:02:00Z WARN c"; got != want {
		t.Errorf("since 08:01, the page shows\n%s\nwant\n%s", got, want)
	}
	appendLines(t, path, "INFO live")
	tb.waitForLine("INFO live")
	tb.WaitFor(connected)
	if n := browser.Eval[int](tb.Tab, lineCount); n != 4 {
		t.Errorf("%d lines after the live one, want 4", n)
	}
	chromium.Close()
}

// TestBrowserSinceTimeInURL: the Since time is in the page's URL: a link
// (and a reload) opens the lines of that time on, with the control set;
// picking another time is a new history entry, and back and forward go
// through the times, and back to none.
func TestBrowserSinceTimeInURL(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path,
		"2025-06-07T08:00:00Z INFO a",
		`{"time":"2025-06-07T08:01:00Z","level":"info","msg":"b"}`,
		"2025-06-07T08:02:00Z WARN c",
		"2025-06-07T08:03:00Z ERROR d")
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 4)

	chromium := browser.New(t, 1000, 600)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/?since_time=2025-06-07T08%3A01%3A00Z&level=info"))
	tb.WaitFor(connected)
	tb.WaitFor(lineCount + " === 3")
	const texts = "b\n2025-06-07T08:02:00Z WARN c\n2025-06-07T08:03:00Z ERROR d"
	if got := browser.Eval[string](tb.Tab, lineTexts); got != texts {
		t.Errorf("since 08:01 the page shows\n%s\nwant\n%s", got, texts)
	}
	// The control shows that time, in the browser's local time.
	sinceControl := `new Date(document.getElementById("since-time").value).toISOString()`
	if got := browser.Eval[string](tb.Tab, sinceControl); got != "2025-06-07T08:01:00.000Z" {
		t.Errorf("the Since control reads %s", got)
	}
	// The download link is for the lines shown: of that time on.
	downloadSince := `new URL(document.getElementById("download").href).searchParams.get("since_time")`
	if got := browser.Eval[string](tb.Tab, `new Date(`+downloadSince+`).toISOString()`); got != "2025-06-07T08:01:00.000Z" {
		t.Errorf("the download link's since_time is %s", got)
	}

	// A reload: the same view.
	tb.Do(chromedp.Reload())
	tb.WaitFor(connected)
	tb.WaitFor(lineCount + " === 3")
	if got := browser.Eval[string](tb.Tab, lineTexts); got != texts {
		t.Errorf("after a reload the page shows\n%s", got)
	}

	// Another time picked: in the URL, a new entry.
	pick := func(iso string) {
		tb.T.Helper()
		tb.Run(fmt.Sprintf(`(s => { const d = new Date(%s); s.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19); s.dispatchEvent(new Event("change")); })(document.getElementById("since-time"))`, browser.JSString(iso)))
	}
	pick("2025-06-07T08:03:00Z")
	tb.WaitFor(lineCount + " === 1")
	tb.WaitFor(`new URLSearchParams(location.search).get("since_time") === "2025-06-07T08:03:00.000Z"`)
	tb.waitForLine("2025-06-07T08:03:00Z ERROR d")
	// Cleared: the last lines, and no time in the URL.
	tb.Run(`(s => { s.value = ""; s.dispatchEvent(new Event("change")); })(document.getElementById("since-time"))`)
	tb.WaitFor(lineCount + " === 4")
	tb.WaitFor(`!new URLSearchParams(location.search).has("since_time")`)
	tb.WaitFor(downloadSince + ` === null`)

	tb.Run(`history.back()`)
	tb.WaitFor(lineCount + " === 1")
	tb.WaitFor(sinceControl + ` === "2025-06-07T08:03:00.000Z"`)
	tb.Run(`history.back()`)
	tb.WaitFor(lineCount + " === 3")
	tb.WaitFor(sinceControl + ` === "2025-06-07T08:01:00.000Z"`)
	if got := browser.Eval[string](tb.Tab, lineTexts); got != texts {
		t.Errorf("back to 08:01 the page shows\n%s", got)
	}
	tb.Run(`history.forward()`)
	tb.WaitFor(lineCount + " === 1")
	tb.Run(`history.forward()`)
	tb.WaitFor(lineCount + " === 4")
	tb.WaitFor(`document.getElementById("since-time").value === ""`)
	// Live lines follow the view.
	appendLines(t, path, "2025-06-07T08:04:00Z INFO live")
	tb.waitForLine("2025-06-07T08:04:00Z INFO live")

	// A time the page cannot read: no time, rather than a refused stream.
	other := &tab{chromium.NewTab("unreadable")}
	other.Do(chromedp.Navigate(ts.URL + "/?since_time=yesterday"))
	other.WaitFor(connected)
	other.WaitFor(lineCount + " === 5")
	chromium.Close()
}
