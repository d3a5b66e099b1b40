package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// TestBrowserLogView drives the page in headless Chromium: live lines, the
// level and search filters (without reconnecting), pause, markup shown as
// text, reconnecting with since= after the connection is cut, the 500-line
// cap with auto-scroll, and the file picker.
//
// LOGSTREAM_SCREENSHOT=/tmp/logstream.png saves a screenshot of the page.
func TestBrowserLogView(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	var history []string
	levels := []string{"debug", "info", "warn", "error"}
	base := time.Date(2025, 6, 7, 8, 9, 0, 0, time.UTC)
	for i := range 40 {
		lvl := levels[i%4]
		history = append(history, fmt.Sprintf(`{"time":%q,"level":%q,"msg":"history %02d","path":"/api/orders/%d","duration_ms":%d}`,
			base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), lvl, i, 1000+i, 3*i))
	}
	appendLines(t, a, history...)
	appendLines(t, b, "2025-06-07 08:09:10 INFO db ready", "2025-06-07 08:09:11 WARN db slow checkpoint")
	ts := newTestServer(t, a, b)
	ts.waitRing(t, a, 40)
	proxy := testkit.NewProxy(t, ts.Listener.Addr().String())

	chromium := browser.New(t, 1200, 760)
	tb := &tab{chromium.NewTab("")}

	tb.Do(chromedp.Navigate(proxy.URL() + "/"))
	tb.WaitFor(connected)
	tb.WaitFor(`!document.getElementById("file-pick").hidden`) // two files
	tb.WaitFor(lineCount + " === 40")
	// A JSON line: its message, then its other fields.
	if got := browser.Eval[string](tb.Tab, `document.querySelector("#lines .line .text").textContent`); got != "history 00" {
		t.Errorf("first line reads %q, want its message %q", got, "history 00")
	}
	if got, want := browser.Eval[string](tb.Tab, `document.querySelector("#lines .line .fields").textContent`), "path=/api/orders/1000duration_ms=0"; got != want {
		t.Errorf("first line's fields read %q, want %q", got, want)
	}

	// Live lines, markup among them.
	const xss = `ERROR user agent <img src=x onerror=alert(1)> rejected`
	appendLines(t, a, `{"level":"info","msg":"live one"}`, `time=2025-06-07T08:10:00Z level=warn msg="payment timeout, retrying"`, xss)
	tb.waitForLine(xss)
	if got := browser.Eval[string](tb.Tab, `[...document.querySelectorAll("#lines .line")].pop().dataset.level`); got != "error" {
		t.Errorf("the markup line has level %q, want error", got)
	}
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#lines img, #lines script").length`); n != 0 {
		t.Errorf("%d <img> or <script> elements in the list: a log line became HTML", n)
	}
	if !browser.Eval[bool](tb.Tab, atBottom) {
		t.Error("the view did not follow the new lines")
	}
	tb.Screenshot("LOGSTREAM_SCREENSHOT")

	// The level filter, on the same socket.
	opened := ts.app.streams[a]
	tb.Run(`(s => { s.value = "error"; s.dispatchEvent(new Event("change")); })(document.getElementById("level"))`)
	tb.WaitFor(lineCount + " === 11 && " + onlyLevels("error")) // 10 in the history, the markup line
	appendLines(t, a, "INFO not shown", `{"level":"error","msg":"database timeout"}`, "DEBUG nor this")
	tb.waitForLine("database timeout")
	if !browser.Eval[bool](tb.Tab, onlyLevels("error")) {
		t.Error("a line below error level is shown under the error filter")
	}
	if subs, _ := opened.live(); subs != 1 {
		t.Errorf("%d live clients after the filter change, want the same 1", subs)
	}

	// Search, typed: a substring, then an invalid regexp (reported, the
	// filter stays), then back to everything.
	tb.Do(chromedp.SendKeys(chromedp.CSS("#search"), "timeout"))
	tb.WaitFor(lineCount + " === 1")
	tb.setSearch("/(unclosed/")
	tb.WaitFor(`!document.getElementById("filter-error").hidden`)
	appendLines(t, a, "ERROR another timeout", "ERROR unrelated")
	tb.waitForLine("ERROR another timeout")
	tb.setSearch("")
	tb.Run(`(s => { s.value = ""; s.dispatchEvent(new Event("change")); })(document.getElementById("level"))`)
	tb.WaitFor(`document.getElementById("filter-error").hidden`)
	tb.WaitFor(lineCount + " === 48") // everything so far

	// Pause holds the lines back and counts them.
	tb.Do(chromedp.Click(chromedp.CSS("#pause")))
	appendLines(t, a, "INFO held 1", "INFO held 2", "INFO held 3")
	tb.WaitFor(`document.getElementById("pause").textContent === "Resume (3)"`)
	if n := tb.count("INFO held 1"); n != 0 {
		t.Error("a line was shown while paused")
	}
	tb.Do(chromedp.Click(chromedp.CSS("#pause")))
	tb.waitForLine("INFO held 3")

	// Cut the connection: the page reconnects by itself and resumes after
	// the last offset, with no line missing or repeated.
	proxy.Cut()
	appendLines(t, a, "INFO while cut 1", "INFO while cut 2")
	tb.waitForLine("INFO while cut 2")
	tb.WaitFor(connected)
	for _, text := range []string{"INFO held 3", "INFO while cut 1", "INFO while cut 2", xss} {
		if n := tb.count(text); n != 1 {
			t.Errorf("after reconnecting, %q is shown %d times", text, n)
		}
	}
	if !browser.Eval[bool](tb.Tab, `(o => new Set(o).size === o.length)([...document.querySelectorAll("#lines .line")].map(l => l.dataset.offset))`) {
		t.Error("a line offset is shown twice")
	}

	// Cut again, and rotate the file meanwhile, the new one growing past
	// the last offset shown: the page resumes in the old generation and
	// shows every new line, with no gap notice.
	proxy.Cut()
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	var rotated []string
	for i := range 40 {
		rotated = append(rotated, fmt.Sprintf("INFO after rotation %02d", i))
	}
	appendLines(t, a, rotated...)
	tb.waitForLine(rotated[len(rotated)-1])
	tb.WaitFor(connected)
	for _, text := range rotated {
		if n := tb.count(text); n != 1 {
			t.Errorf("after a rotation while cut, %q is shown %d times", text, n)
		}
	}
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#lines .notice.problem").length`); n != 0 {
		t.Errorf("%d gap notices after resuming", n)
	}

	// At most 500 lines; the view follows while at the bottom, and stays
	// where the reader is when scrolled up.
	var many []string
	for i := range 600 {
		many = append(many, fmt.Sprintf("INFO bulk %03d", i))
	}
	appendLines(t, a, many...)
	tb.waitForLine("INFO bulk 599")
	if n := browser.Eval[int](tb.Tab, lineCount); n > 500 {
		t.Errorf("%d lines in the page, want at most 500", n)
	}
	tb.WaitFor(atBottom)
	tb.Run(`document.getElementById("lines").scrollTop = 0`)
	tb.WaitFor(`document.getElementById("lines").dataset.follow === "false"`)
	appendLines(t, a, "INFO while reading")
	tb.waitForLine("INFO while reading")
	tb.WaitFor(`!document.getElementById("follow").hidden`)
	if top := browser.Eval[int](tb.Tab, `document.getElementById("lines").scrollTop`); top > 40 {
		t.Errorf("a new line moved the reader's view to %d", top)
	}
	tb.Do(chromedp.Click(chromedp.CSS("#follow")))
	tb.WaitFor(atBottom)

	// The file picker switches to the other file.
	tb.chooseFiles(b)
	tb.WaitFor(lineCount + " === 2")
	tb.waitForLine("2025-06-07 08:09:11 WARN db slow checkpoint")

	chromium.Close()
}

// JavaScript expressions about the page.
const (
	connected = `document.getElementById("status").dataset.state === "connected"`
	lineCount = `document.querySelectorAll("#lines .line").length`
	atBottom  = `(l => l.scrollHeight - l.scrollTop - l.clientHeight < 2)(document.getElementById("lines"))`
)

// onlyLevels is true when every line shown has one of levels.
func onlyLevels(levels ...string) string {
	return fmt.Sprintf(`(ok => [...document.querySelectorAll("#lines .line")].every(l => ok.includes(l.dataset.level)))(%s)`,
		jsStrings(levels))
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = browser.JSString(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// tab is the browser page of the test: the log view.
type tab struct{ *browser.Tab }

// waitForLine waits until a line of the page reads text.
func (tb *tab) waitForLine(text string) {
	tb.T.Helper()
	tb.WaitFor(fmt.Sprintf(`[...document.querySelectorAll("#lines .line .text")].some(e => e.textContent === %s)`, browser.JSString(text)))
}

// count returns how many lines of the page read text.
func (tb *tab) count(text string) int {
	tb.T.Helper()
	return browser.Eval[int](tb.Tab, fmt.Sprintf(`[...document.querySelectorAll("#lines .line .text")].filter(e => e.textContent === %s).length`, browser.JSString(text)))
}

// setSearch puts text in the search box as typing would.
func (tb *tab) setSearch(text string) {
	tb.T.Helper()
	tb.Run(fmt.Sprintf(`(s => { s.value = %s; s.dispatchEvent(new Event("input")); })(document.getElementById("search"))`, browser.JSString(text)))
}

// TestBrowserLogGap: when the server cannot resume after the last line
// shown (the ring no longer holds the page's generation), the page says
// so in place, among the lines, then shows what the server still has and
// goes on live, with no line twice; the client forgot the old position
// and resumes from the new lines.
func TestBrowserLogGap(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path, "INFO a", "INFO b")
	ts := newTestServerWith(t, config{Files: []string{path}, RingSize: 4})
	ts.waitRing(t, path, 2)
	proxy := testkit.NewProxy(t, ts.Listener.Addr().String())

	chromium := browser.New(t, 1000, 600)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(proxy.URL() + "/"))
	tb.WaitFor(connected)
	tb.waitForLine("INFO b")

	proxy.Cut()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, "INFO n1", "INFO n2", "INFO n3", "INFO n4", "INFO n5")
	tb.waitForLine("INFO n5")
	tb.WaitFor(connected)
	const order = `[...document.querySelectorAll("#lines li")].map((li) => li.classList.contains("notice") ? "gap" : li.querySelector(".text").textContent).join(", ")`
	if got := browser.Eval[string](tb.Tab, order); got != "INFO a, INFO b, gap, INFO n2, INFO n3, INFO n4, INFO n5" {
		t.Errorf("the page shows %s", got)
	}

	// Cut again: the page resumes from the new lines, with no gap.
	proxy.Cut()
	appendLines(t, path, "INFO n6")
	tb.waitForLine("INFO n6")
	tb.WaitFor(connected)
	if got := browser.Eval[string](tb.Tab, order); got != "INFO a, INFO b, gap, INFO n2, INFO n3, INFO n4, INFO n5, INFO n6" {
		t.Errorf("after resuming again, the page shows %s", got)
	}
	chromium.Close()
}
