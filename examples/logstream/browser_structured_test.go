package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
)

// JavaScript expressions about the structured lines of the page.
const (
	// chipTexts is, for each line, its chips' texts joined by " ",
	// lines joined by newlines.
	chipTexts = `[...document.querySelectorAll("#lines .line")].map(l => [...l.querySelectorAll(".chip")].map(c => c.textContent).join(" ")).join("\n")`
	// noMarkup is true when no log text became an element.
	noMarkup = `document.querySelectorAll("#lines img, #lines script, #lines b, #lines i").length === 0`
)

// TestBrowserStructuredLines: a JSON or logfmt line shows its time, level
// and message as columns and its other fields as chips (at most 8, then
// "+N"); its toggle opens every field in full, a JSON array indented, and
// the raw line, and closes them; a plain line shows as before; markup in a
// key or a value is text.
func TestBrowserStructuredLines(t *testing.T) {
	path := logFile(t, "app.log")
	const xss = `<img src=x onerror=alert(1)>`
	lines := []string{
		`{"time":"2025-06-07T08:09:00Z","level":"error","msg":"GET /pay","status":502,"user":"ann","req":{"method":"GET","tags":["a","b"]}}`,
		`time=2025-06-07T08:09:01Z level=warn msg="slow query" db=orders ms=1200`,
		"2025-06-07 08:09:02 INFO plain <b>line</b> user=bob",
		`{"level":"warn","msg":"` + `<i>hi</i>` + `","` + xss + `":"` + xss + `"}`,
		`{"msg":"many","f1":1,"f2":2,"f3":3,"f4":4,"f5":5,"f6":6,"f7":7,"f8":8,"f9":9,"f10":10}`,
	}
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, uint64(len(lines)))

	chromium := browser.New(t, 1200, 700)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/"))
	tb.WaitFor(connected)
	tb.WaitFor(lineCount + " === 5")

	if got, want := browser.Eval[string](tb.Tab, lineTexts), "GET /pay\nslow query\n"+lines[2]+"\n<i>hi</i>\nmany"; got != want {
		t.Errorf("the text column reads\n%s\nwant\n%s", got, want)
	}
	wantChips := "status=502 user=ann req.method=GET req.tags=[\"a\",\"b\"]\n" +
		"db=orders ms=1200\n\n" +
		xss + "=" + xss + "\n" +
		"f1=1 f2=2 f3=3 f4=4 f5=5 f6=6 f7=7 f8=8 +2"
	if got := browser.Eval[string](tb.Tab, chipTexts); got != wantChips {
		t.Errorf("the chips read\n%s\nwant\n%s", got, wantChips)
	}
	// The level, and the time (hh:mm:ss.mmm) when the line has one.
	columns := `[...document.querySelectorAll("#lines .line")].map(l => l.querySelector(".level").textContent + "|" + l.querySelector(".time").textContent.length).join(",")`
	if got, want := browser.Eval[string](tb.Tab, columns), "error|12,warn|12,info|12,warn|0,|0"; got != want {
		t.Errorf("level and time columns: %s, want %s", got, want)
	}
	if !browser.Eval[bool](tb.Tab, noMarkup) {
		t.Error("a key, a value or a message became HTML")
	}
	if got := browser.Eval[string](tb.Tab, `document.querySelectorAll("#lines .line")[3].querySelector(".chip .k").textContent`); got != xss {
		t.Errorf("the markup key reads %q", got)
	}
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#lines .line")[2].querySelectorAll(".fields, .toggle").length`); n != 0 {
		t.Errorf("the plain line has %d chips or toggles", n)
	}

	// Open the first line: every field, in full.
	tb.Run(`document.querySelector("#lines .line .toggle").click()`)
	tb.WaitFor(`document.querySelector("#lines .line .detail") !== null`)
	detail := `[...document.querySelectorAll("#lines .line .detail dt")].map(dt => dt.textContent + "=" + dt.nextElementSibling.textContent).join("\n")`
	wantDetail := "time=2025-06-07T08:09:00Z\nlevel=error\nmsg=GET /pay\nstatus=502\nuser=ann\nreq.method=GET\n" +
		"req.tags=[\n  \"a\",\n  \"b\"\n]\nline=" + lines[0]
	if got := browser.Eval[string](tb.Tab, detail); got != wantDetail {
		t.Errorf("the open line reads\n%s\nwant\n%s", got, wantDetail)
	}
	if got := browser.Eval[string](tb.Tab, `document.querySelector("#lines .line .toggle").getAttribute("aria-expanded")`); got != "true" {
		t.Errorf("aria-expanded %q on the open line's toggle", got)
	}
	// Clicking its chips closes it; the markup line opens as text too.
	tb.Run(`document.querySelector("#lines .line .fields").click()`)
	tb.WaitFor(`document.querySelector("#lines .line .detail") === null`)
	tb.Run(`document.querySelectorAll("#lines .line")[3].querySelector(".toggle").click()`)
	tb.WaitFor(`document.querySelectorAll("#lines .line .detail").length === 1`)
	if got := browser.Eval[string](tb.Tab, `document.querySelector("#lines .line .detail dl").children[4].textContent`); got != xss {
		t.Errorf("the markup key in the open line reads %q", got)
	}
	if !browser.Eval[bool](tb.Tab, noMarkup) {
		t.Error("an open line's key or value became HTML")
	}
	tb.Screenshot("LOGSTREAM_SCREENSHOT")

	// Live lines too; one with nothing but its columns shows its raw line.
	appendLines(t, path, `{"level":"info","msg":"live","k":"v"}`, `{"level":"info"}`)
	tb.waitForLine("live")
	tb.WaitFor(`[...document.querySelectorAll("#lines .line")].at(-2).querySelector(".chip").textContent === "k=v"`)
	tb.waitForLine(`{"level":"info"}`)
	chromium.Close()
}

// TestBrowserFieldSearch: a field search typed in the page filters the
// lines shown and the live ones, the chips of its keys are marked and its
// text terms highlighted; a bad term is reported, the last filter staying;
// the URL and the download link carry it.
func TestBrowserFieldSearch(t *testing.T) {
	path := logFile(t, "app.log")
	lines := []string{
		`{"level":"info","msg":"GET /","status":200,"user":"ann"}`,
		`{"level":"error","msg":"GET /pay timeout","status":502,"user":"bob"}`,
		`level=warn msg="slow query" status=500 user=Ann`,
		"2025-06-07 08:09:03 ERROR payment failed status=503 user=carl",
		"INFO plain",
	}
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, uint64(len(lines)))

	chromium := browser.New(t, 1200, 700)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/"))
	tb.WaitFor(connected)
	tb.WaitFor(lineCount + " === 5")

	tb.setSearch("status>=500")
	tb.WaitFor(lineCount + " === 3")
	if got, want := browser.Eval[string](tb.Tab, lineTexts), "GET /pay timeout\nslow query\n"+lines[3]; got != want {
		t.Errorf("status>=500 shows\n%s\nwant\n%s", got, want)
	}
	if got := browser.Eval[string](tb.Tab, `[...document.querySelectorAll("#lines .chip.hit")].map(c => c.textContent).join(",")`); got != "status=502,status=500" {
		t.Errorf("the chips marked: %q", got)
	}
	appendLines(t, path, `{"level":"info","status":404}`, `{"level":"error","msg":"live","status":504}`)
	tb.waitForLine("live")
	tb.WaitFor(lineCount + " === 4")

	// Two terms and text: the text highlighted.
	tb.setSearch("user=ann status>=500 SLOW")
	tb.WaitFor(lineCount + " === 1")
	tb.waitForLine("slow query")
	if got := browser.Eval[string](tb.Tab, marks); got != "slow" {
		t.Errorf("marks %q, want slow", got)
	}
	tb.WaitFor(`new URLSearchParams(location.search).get("search") === "user=ann status>=500 SLOW"`)
	want := "/api/logs/download?" + url.Values{"file": {path}, "search": {"user=ann status>=500 SLOW"}}.Encode()
	if got := browser.Eval[string](tb.Tab, `document.getElementById("download").getAttribute("href")`); got != want {
		t.Errorf("the download link is %q, want %q", got, want)
	}

	// A bad term: reported; the lines of the last filter stay, and so do
	// its live ones.
	tb.setSearch("status>=abc")
	tb.WaitFor(`!document.getElementById("filter-error").hidden`)
	if got := browser.Eval[string](tb.Tab, `document.getElementById("filter-error").textContent`); !strings.Contains(got, ">= compares numbers") {
		t.Errorf("the filter error reads %q", got)
	}
	appendLines(t, path, `level=info msg="slow again" user=ann status=501`, `{"level":"info","msg":"not shown","status":200}`)
	tb.waitForLine("slow again")
	if n := browser.Eval[int](tb.Tab, lineCount); n != 2 {
		t.Errorf("%d lines after a refused filter, want 2", n)
	}

	// Opened from a link: the same view.
	second := &tab{chromium.NewTab("link")}
	second.Do(chromedp.Navigate(ts.URL + "/?" + url.Values{"search": {"status!=200 user=bob"}}.Encode()))
	second.WaitFor(connected)
	second.waitForLine("GET /pay timeout")
	second.WaitFor(lineCount + " === 1")
	chromium.Close()
}

// TestBrowserFollowsWhenTheBarWraps: the view keeps following the new
// lines when the list gets shorter without a scroll, as when a long filter
// error wraps the tool bar.
func TestBrowserFollowsWhenTheBarWraps(t *testing.T) {
	path := logFile(t, "app.log")
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf(`{"level":"info","msg":"line %d","status":%d}`, i, 200+i))
	}
	appendLines(t, path, lines...)
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 100)

	chromium := browser.New(t, 1000, 600)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/"))
	tb.WaitFor(connected)
	tb.WaitFor(lineCount + " === 100")
	tb.WaitFor(atBottom)
	height := browser.Eval[int](tb.Tab, `document.getElementById("lines").clientHeight`)

	tb.setSearch("status>=abc")
	tb.WaitFor(`!document.getElementById("filter-error").hidden`)
	tb.WaitFor(fmt.Sprintf(`document.getElementById("lines").clientHeight < %d`, height))
	appendLines(t, path, `{"level":"info","msg":"after the error","status":1}`)
	tb.waitForLine("after the error")
	tb.WaitFor(atBottom)
	if got := browser.Eval[string](tb.Tab, `document.getElementById("lines").dataset.follow`); got != "true" {
		t.Errorf("follow is %s after the bar wrapped", got)
	}
	chromium.Close()
}
