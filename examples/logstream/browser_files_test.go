package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// chosenFiles is the files checked in the page's file picker, joined by
// "|".
const chosenFiles = `[...document.querySelectorAll("#file-list input:checked")].map(i => i.value).join("|")`

// chooseFiles checks exactly these files in the page's file picker, as a
// reader would, one change event for all.
func (tb *tab) chooseFiles(names ...string) {
	tb.T.Helper()
	tb.Run(fmt.Sprintf(`(want => { const l = document.getElementById("file-list");
		for (const i of l.querySelectorAll("input")) i.checked = want.includes(i.value);
		l.dispatchEvent(new Event("change")); })(%s)`, jsStrings(names)))
}

// rowsOf is a JavaScript expression: the rows of the list, each as
// "FILE-LABEL TEXT" (a notice as "notice"), joined by newlines.
const rowsOf = `[...document.querySelectorAll("#lines li")].map(li => li.classList.contains("notice") ? "notice" :
	li.querySelector(".file").textContent + " " + li.querySelector(".text").textContent).join("\n")`

// rows returns the rows of the list, as rowsOf reads them.
func (tb *tab) rows() []string {
	tb.T.Helper()
	s := browser.Eval[string](tb.Tab, rowsOf)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// stamp is a line's leading time, second s after a fixed minute.
func stamp(s int) string {
	return time.Date(2025, 6, 7, 8, 9, 0, 0, time.UTC).Add(time.Duration(s) * time.Second).Format(time.RFC3339)
}

// TestBrowserSeveralFiles: a view of two files shows their lines merged by
// time, the backfills too (they arrive one after the other), live lines
// put in their place even when they arrive out of order, each row naming
// its file (a name with markup in it, as text) in a colour of its own; the
// level filter, pause and the download apply to both files.
func TestBrowserSeveralFiles(t *testing.T) {
	a := logFile(t, "app.log")
	b := logFile(t, "<img src=x onerror=alert(1)>.log")
	other := logFile(t, "other.log")
	appendLines(t, a, stamp(1)+" INFO a1", stamp(3)+" ERROR a3", "  a3 continued", stamp(5)+" INFO a5")
	appendLines(t, b, stamp(2)+" INFO b2", stamp(4)+" ERROR b4", stamp(6)+" INFO b6")
	appendLines(t, other, stamp(2)+" INFO not shown")
	ts := newTestServer(t, a, b, other)
	ts.waitRing(t, a, 4)
	ts.waitRing(t, b, 3)
	const la, lb = "app.log", "<img src=x onerror=alert(1)>.log"

	chromium := browser.New(t, 1200, 700)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/?" + url.Values{"file": {a, b}}.Encode()))
	tb.WaitFor(connected)
	want := []string{la + " " + stamp(1) + " INFO a1", lb + " " + stamp(2) + " INFO b2", la + " " + stamp(3) + " ERROR a3",
		la + "   a3 continued", lb + " " + stamp(4) + " ERROR b4", la + " " + stamp(5) + " INFO a5", lb + " " + stamp(6) + " INFO b6"}
	tb.waitForRows(want)
	if got := browser.Eval[string](tb.Tab, chosenFiles); got != a+"|"+b {
		t.Errorf("files checked: %q, want %q", got, a+"|"+b)
	}
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("img, script:not([src])").length`); n != 0 {
		t.Errorf("%d <img> or inline <script> elements: a file name became HTML", n)
	}
	// A colour each, in the rows and the legend, beside the name.
	colour := `(sel => getComputedStyle(document.querySelector(sel)).borderLeftColor)`
	ca := browser.Eval[string](tb.Tab, colour+`('#lines li[data-file=`+browser.JSString(a)+`] .file')`)
	cb := browser.Eval[string](tb.Tab, colour+`('#lines li[data-file=`+browser.JSString(b)+`] .file')`)
	if ca == cb || ca == "" {
		t.Errorf("the files' colours: %q and %q, want two", ca, cb)
	}
	if got := browser.Eval[string](tb.Tab, `[...document.querySelectorAll("#file-legend li")].map(li => li.textContent).join("|")`); got != la+"|"+lb {
		t.Errorf("the legend reads %q", got)
	}

	// Live lines, written alternately; then one arriving after a later
	// line of the other file goes above it.
	for i := 7; i <= 10; i += 2 {
		appendLines(t, a, stamp(i)+" INFO a"+strconv.Itoa(i))
		appendLines(t, b, stamp(i+1)+" INFO b"+strconv.Itoa(i+1))
	}
	want = append(want, la+" "+stamp(7)+" INFO a7", lb+" "+stamp(8)+" INFO b8", la+" "+stamp(9)+" INFO a9", lb+" "+stamp(10)+" INFO b10")
	tb.waitForRows(want)
	appendLines(t, b, stamp(12)+" INFO b12")
	tb.waitForLine(stamp(12) + " INFO b12")
	appendLines(t, a, stamp(11)+" INFO a11")
	want = append(want, la+" "+stamp(11)+" INFO a11", lb+" "+stamp(12)+" INFO b12")
	tb.waitForRows(want)

	// The level filter: both files' lines at error, merged.
	tb.Run(`(s => { s.value = "error"; s.dispatchEvent(new Event("change")); })(document.getElementById("level"))`)
	tb.waitForRows([]string{la + " " + stamp(3) + " ERROR a3", lb + " " + stamp(4) + " ERROR b4"})
	wantHref := "/api/logs/download?" + url.Values{"file": {a, b}, "level": {"error"}}.Encode()
	tb.WaitFor(`document.getElementById("download").getAttribute("href") === ` + browser.JSString(wantHref))

	// Pause holds both files' lines; resuming puts them in their places.
	tb.Do(chromedp.Click(chromedp.CSS("#pause")))
	appendLines(t, b, stamp(14)+" ERROR b14")
	appendLines(t, a, stamp(13)+" ERROR a13")
	tb.WaitFor(`document.getElementById("pause").textContent === "Resume (2)"`)
	if rows := tb.rows(); len(rows) != 2 {
		t.Errorf("paused, the page shows %q", rows)
	}
	tb.Do(chromedp.Click(chromedp.CSS("#pause")))
	tb.waitForRows([]string{la + " " + stamp(3) + " ERROR a3", lb + " " + stamp(4) + " ERROR b4",
		la + " " + stamp(13) + " ERROR a13", lb + " " + stamp(14) + " ERROR b14"})
	chromium.Close()
}

// waitForRows waits until the list shows exactly these rows (rowsOf).
func (tb *tab) waitForRows(want []string) {
	tb.T.Helper()
	expr := rowsOf + " === " + browser.JSString(strings.Join(want, "\n"))
	_, err := chromedp.Run(tb.Ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(testkit.Wait)))
	if err != nil {
		tb.T.Fatalf("waiting for the rows\n%s\nthe page shows\n%s\n(%v)", strings.Join(want, "\n"), strings.Join(tb.rows(), "\n"), err)
	}
}

// TestBrowserSeveralFilesLink: the files of a view are in its URL (file=
// once each): the page reloaded shows the same files and lines; back and
// forward go through the choices. A file the server refuses shows its
// error, and the others stream on. At most maxViewFiles files: a link
// naming more shows the first ones, and says so.
func TestBrowserSeveralFilesLink(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	appendLines(t, a, stamp(1)+" INFO a1", stamp(3)+" INFO a3")
	appendLines(t, b, stamp(2)+" INFO b2")
	more := logFiles(t, maxViewFiles)
	ts := newTestServer(t, append([]string{a, b}, more...)...)
	ts.waitRing(t, a, 2)
	ts.waitRing(t, b, 1)

	chromium := browser.New(t, 1200, 700)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/"))
	tb.WaitFor(connected)
	one := []string{"app.log " + stamp(1) + " INFO a1", "app.log " + stamp(3) + " INFO a3"}
	tb.waitForRows(one)

	// Add the second file: a new history entry, the file in the URL.
	tb.chooseFiles(a, b)
	both := []string{"app.log " + stamp(1) + " INFO a1", "db.log " + stamp(2) + " INFO b2", "app.log " + stamp(3) + " INFO a3"}
	tb.waitForRows(both)
	tb.WaitFor(connected)
	if got := browser.Eval[[]string](tb.Tab, `new URLSearchParams(location.search).getAll("file")`); strings.Join(got, "|") != a+"|"+b {
		t.Errorf("the URL names the files %q, want %q", got, []string{a, b})
	}
	// Reloaded: the same view.
	tb.Do(chromedp.Reload())
	tb.WaitFor(connected)
	tb.waitForRows(both)
	if got := browser.Eval[string](tb.Tab, chosenFiles); got != a+"|"+b {
		t.Errorf("after a reload, the files checked are %q", got)
	}
	// Back: the first file alone; forward: both again.
	tb.Run(`history.back()`)
	tb.waitForRows(one)
	tb.WaitFor(fmt.Sprintf(`%s === %s`, chosenFiles, browser.JSString(a)))
	tb.Run(`history.forward()`)
	tb.waitForRows(both)
	tb.WaitFor(connected)
	// The "only" button: one file again.
	tb.Run(fmt.Sprintf(`[...document.querySelectorAll("#file-list button.only")].find(b => b.value === %s).click()`, browser.JSString(b)))
	tb.waitForRows([]string{"db.log " + stamp(2) + " INFO b2"})

	// A link with a file the server does not stream: its error, in its
	// place in the legend; the other files are live.
	gone := filepath.Join(filepath.Dir(a), "gone.log")
	tb.Do(chromedp.Navigate(ts.URL + "/?" + url.Values{"file": {a, gone, b}}.Encode()))
	tb.waitForRows(both)
	tb.WaitFor(`document.getElementById("status").textContent === "Live · 1 of 3 files failed"`)
	tb.WaitFor(`(li => li !== null && li.classList.contains("problem") && li.textContent.includes("this file cannot be streamed"))(document.querySelector('#file-legend li[data-file=` + browser.JSString(gone) + `]'))`)
	appendLines(t, b, stamp(4)+" INFO b4")
	tb.waitForRows(append(both, "db.log "+stamp(4)+" INFO b4"))

	// A link naming every file: the first maxViewFiles, said so.
	all := url.Values{"file": append([]string{a, b}, more...)}
	tb.Do(chromedp.Navigate(ts.URL + "/?" + all.Encode()))
	tb.WaitFor(connected)
	tb.WaitFor(fmt.Sprintf(`document.querySelectorAll("#file-list input:checked").length === %d`, maxViewFiles))
	tb.WaitFor(fmt.Sprintf(`document.querySelectorAll("#file-legend li").length === %d`, maxViewFiles))
	if got := browser.Eval[string](tb.Tab, `document.getElementById("file-cap").hidden ? "" : document.getElementById("file-cap").textContent`); !strings.Contains(got, fmt.Sprintf("%d at most", maxViewFiles)) {
		t.Errorf("the cap's message: %q", got)
	}
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#file-list input:disabled").length`); n != 2 {
		t.Errorf("%d files disabled in the picker, want the 2 beyond the cap", n)
	}
	if subs, _ := ts.app.streams[more[len(more)-1]].live(); subs != 0 {
		t.Errorf("the file beyond the cap has %d sockets", subs)
	}
	chromium.Close()
}

// checkEachOnce fails the test unless every text is shown in exactly one
// line, and the lines of each file are in the order given.
func (tb *tab) checkEachOnce(when string, texts ...[]string) {
	tb.T.Helper()
	shown := browser.Eval[[]string](tb.Tab, `[...document.querySelectorAll("#lines .line .text")].map(e => e.textContent)`)
	at := make(map[string][]int)
	for i, s := range shown {
		at[s] = append(at[s], i)
	}
	for _, file := range texts {
		last := -1
		for _, text := range file {
			switch n := len(at[text]); {
			case n != 1:
				tb.T.Errorf("%s, %q is shown %d times", when, text, n)
			case at[text][0] < last:
				tb.T.Errorf("%s, %q is shown above the line before it in its file", when, text)
			default:
				last = at[text][0]
			}
		}
	}
}

// TestBrowserSeveralFilesRotation: one file rotated while the other keeps
// going, live and then while the page is cut off: each file's lines are
// shown once each, in order, none lost, and no gap notice.
func TestBrowserSeveralFilesRotation(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	var la, lb []string
	write := func(path string, lines *[]string, prefix string, n int) {
		t.Helper()
		var batch []string
		for range n {
			batch = append(batch, fmt.Sprintf("%s INFO %s %02d", time.Now().UTC().Format(time.RFC3339Nano), prefix, len(*lines)+len(batch)))
		}
		appendLines(t, path, batch...)
		*lines = append(*lines, batch...)
	}
	write(a, &la, "a", 3)
	write(b, &lb, "b", 3)
	ts := newTestServer(t, a, b)
	ts.waitRing(t, a, 3)
	ts.waitRing(t, b, 3)
	proxy := testkit.NewProxy(t, ts.Listener.Addr().String())

	chromium := browser.New(t, 1200, 700)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(proxy.URL() + "/?" + url.Values{"file": {a, b}}.Encode()))
	tb.WaitFor(connected)
	tb.waitForLine(la[2])
	tb.waitForLine(lb[2])

	// Rotated live, b going on meanwhile.
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	write(b, &lb, "b", 5)
	write(a, &la, "a", 5)
	write(b, &lb, "b", 5)
	tb.waitForLine(la[len(la)-1])
	tb.waitForLine(lb[len(lb)-1])
	tb.checkEachOnce("after a rotation", la, lb)

	// Rotated while the page is cut off, b going on meanwhile, the new
	// file growing past the old one's last offset.
	proxy.Cut()
	if err := os.Rename(a, a+".2"); err != nil {
		t.Fatal(err)
	}
	write(b, &lb, "b", 5)
	write(a, &la, "a", 20)
	write(b, &lb, "b", 5)
	tb.waitForLine(la[len(la)-1])
	tb.waitForLine(lb[len(lb)-1])
	tb.WaitFor(connected)
	tb.checkEachOnce("after a rotation while cut off", la, lb)
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#lines .notice").length`); n != 0 {
		t.Errorf("%d notices after resuming", n)
	}
	chromium.Close()
}

// TestBrowserSeveralFilesRestart: the server restarts (on the same
// address) while both files go on: the page resumes each of them, with the
// lines written meanwhile, none twice (the new server cannot prove it
// resumes exactly, so each file gets its gap notice).
func TestBrowserSeveralFilesRestart(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	la := []string{stamp(1) + " INFO a1", stamp(3) + " INFO a3"}
	lb := []string{stamp(2) + " INFO b2", stamp(4) + " INFO b4"}
	appendLines(t, a, la...)
	appendLines(t, b, lb...)
	cfg := config{Files: []string{a, b}}
	first := newTestServerWith(t, cfg)
	first.waitRing(t, a, 2)
	first.waitRing(t, b, 2)
	addr := first.Listener.Addr().String()

	chromium := browser.New(t, 1200, 700)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(first.URL + "/?" + url.Values{"file": {a, b}}.Encode()))
	tb.WaitFor(connected)
	tb.waitForRows([]string{"app.log " + la[0], "db.log " + lb[0], "app.log " + la[1], "db.log " + lb[1]})

	first.stop()
	tb.WaitFor(`document.getElementById("status").dataset.state !== "connected"`)
	more := func(lines *[]string, path, name string, from int) {
		for s := from; s < from+6; s += 2 {
			l := stamp(s) + " INFO " + name + strconv.Itoa(s)
			appendLines(t, path, l)
			*lines = append(*lines, l)
		}
	}
	more(&la, a, "a", 5)
	more(&lb, b, "b", 6)
	var ln net.Listener
	testkit.EventuallyNoError(t, "listening on "+addr+" again", func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	second := startTestServer(t, cfg, ln)
	second.waitRing(t, a, uint64(len(la)))
	second.waitRing(t, b, uint64(len(lb)))
	tb.WaitFor(connected)
	tb.waitForLine(la[len(la)-1])
	tb.waitForLine(lb[len(lb)-1])
	more(&la, a, "a", 11)
	more(&lb, b, "b", 12)
	tb.waitForLine(la[len(la)-1])
	tb.waitForLine(lb[len(lb)-1])
	tb.checkEachOnce("after a restart", la, lb)
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#lines .notice").length`); n != 2 {
		t.Errorf("%d notices after the restart, want a gap notice for each file", n)
	}
	chromium.Close()
}
