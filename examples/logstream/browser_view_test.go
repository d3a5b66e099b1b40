package main

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
)

// lineTexts is the texts of the lines shown, joined by newlines.
const lineTexts = `[...document.querySelectorAll("#lines .line .text")].map(e => e.textContent).join("\n")`

// TestBrowserViewInURL: the file, the filter and the pause are in the
// page's URL; that URL opened in another tab shows the same view (the same
// controls, the same lines); back and forward go through the views.
func TestBrowserViewInURL(t *testing.T) {
	a, b := logFile(t, "app.log"), logFile(t, "db.log")
	appendLines(t, a, "INFO app ready", "ERROR app timeout")
	appendLines(t, b, "INFO db ready", "WARN db slow checkpoint", "ERROR db timeout on write", "ERROR db disk full", "DEBUG db vacuum")
	ts := newTestServer(t, a, b)
	ts.waitRing(t, a, 2)
	ts.waitRing(t, b, 5)

	chromium := browser.New(t, 1000, 600)
	tb := &tab{chromium.NewTab("first")}
	tb.Do(chromedp.Navigate(ts.URL + "/"))
	tb.WaitFor(connected)
	tb.waitForLine("ERROR app timeout")

	// Pick the other file, a level, then type a search.
	tb.chooseFiles(b)
	tb.WaitFor(lineCount + " === 5")
	tb.Run(`(s => { s.value = "warn"; s.dispatchEvent(new Event("change")); })(document.getElementById("level"))`)
	tb.WaitFor(lineCount + " === 3")
	tb.setSearch("timeout")
	tb.WaitFor(lineCount + " === 1")
	tb.waitForLine("ERROR db timeout on write")

	tb.WaitFor(`location.search.includes("search=")`)
	link := browser.Eval[string](tb.Tab, `location.href`)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("file") != b || q.Get("level") != "warn" || q.Get("search") != "timeout" || q.Has("paused") {
		t.Errorf("the page's URL is %s, want file=%s, level=warn, search=timeout, not paused", link, b)
	}

	// The link in a new tab: the same controls, the same lines.
	second := &tab{chromium.NewTab("second")}
	second.Do(chromedp.Navigate(link))
	second.WaitFor(connected)
	second.waitForLine("ERROR db timeout on write")
	controls := chosenFiles + ` + "|" + [document.getElementById("level").value, document.getElementById("search").value].join("|")`
	if got, want := browser.Eval[string](second.Tab, controls), b+"|warn|timeout"; got != want {
		t.Errorf("the link's tab shows the controls %q, want %q", got, want)
	}
	if got, want := browser.Eval[string](second.Tab, lineTexts), browser.Eval[string](tb.Tab, lineTexts); got != want {
		t.Errorf("the link's tab shows\n%s\nwant\n%s", got, want)
	}

	// Back: the search typed is undone, then the level, then the file.
	tb.Run(`history.back()`)
	tb.WaitFor(`document.getElementById("search").value === ""`)
	tb.WaitFor(lineCount + " === 3 && " + onlyLevels("warn", "error"))
	if got := browser.Eval[string](tb.Tab, `document.getElementById("level").value`); got != "warn" {
		t.Errorf("back from the search: level %q, want warn", got)
	}
	tb.Run(`history.back()`)
	tb.WaitFor(`document.getElementById("level").value === ""`)
	tb.WaitFor(lineCount + " === 5")
	tb.Run(`history.back()`)
	tb.WaitFor(fmt.Sprintf(`%s === %s`, chosenFiles, browser.JSString(a)))
	tb.waitForLine("ERROR app timeout")
	tb.WaitFor(lineCount + " === 2")
	// And forward again, to the level.
	tb.Run(`history.forward()`)
	tb.WaitFor(lineCount + " === 5")
	tb.Run(`history.forward()`)
	tb.WaitFor(lineCount + " === 3 && " + onlyLevels("warn", "error"))

	// Pausing is in the URL too: the link opens paused, with the same
	// lines, and holds the new ones.
	tb.Do(chromedp.Click(chromedp.CSS("#pause")))
	tb.WaitFor(`new URLSearchParams(location.search).get("paused") === "1"`)
	paused := browser.Eval[string](tb.Tab, `location.href`)
	third := &tab{chromium.NewTab("third")}
	third.Do(chromedp.Navigate(paused))
	third.WaitFor(connected)
	third.WaitFor(`document.getElementById("pause").textContent === "Resume (0)"`)
	if got, want := browser.Eval[string](third.Tab, lineTexts), browser.Eval[string](tb.Tab, lineTexts); got != want {
		t.Errorf("the paused link's tab shows\n%s\nwant\n%s", got, want)
	}
	appendLines(t, b, "ERROR db held")
	third.WaitFor(`document.getElementById("pause").textContent === "Resume (1)"`)
	if n := third.count("ERROR db held"); n != 0 {
		t.Error("the paused link's tab shows a new line")
	}
	third.Do(chromedp.Click(chromedp.CSS("#pause")))
	third.waitForLine("ERROR db held")
	third.WaitFor(`!new URLSearchParams(location.search).has("paused")`)
	chromium.Close()
}

// marks is the texts of the <mark> elements of the lines, joined by "|".
const marks = `[...document.querySelectorAll("#lines .line .text mark")].map(e => e.textContent).join("|")`

// TestBrowserHighlight: the current search's matches are <mark> elements
// around the text of the lines, case-insensitively, a /regexp/ too; markup
// in a line stays text; an expression the browser rejects shows the lines
// without highlight.
func TestBrowserHighlight(t *testing.T) {
	path := logFile(t, "app.log")
	appendLines(t, path, "INFO <b>x</b> match", "INFO no", "WARN MATCH twice: Match")
	ts := newTestServer(t, path)
	ts.waitRing(t, path, 3)

	chromium := browser.New(t, 1000, 600)
	tb := &tab{chromium.NewTab("")}
	tb.Do(chromedp.Navigate(ts.URL + "/?search=match"))
	tb.WaitFor(connected)
	tb.waitForLine("INFO <b>x</b> match")
	tb.WaitFor(lineCount + " === 2")
	if got, want := browser.Eval[string](tb.Tab, marks), "match|MATCH|Match"; got != want {
		t.Errorf("marks %q, want %q", got, want)
	}
	if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#lines b").length`); n != 0 {
		t.Errorf("%d <b> elements in the list: a log line became HTML", n)
	}
	if got := browser.Eval[string](tb.Tab, `document.querySelector("#lines .line .text").innerHTML`); got != "INFO &lt;b&gt;x&lt;/b&gt; <mark>match</mark>" {
		t.Errorf("the first line is %q", got)
	}

	// Live lines too, under a regexp typed in the page.
	tb.setSearch("/<b>|tw.ce/")
	tb.WaitFor(lineCount + " === 2")
	appendLines(t, path, "ERROR <b>bold</b> twice")
	tb.waitForLine("ERROR <b>bold</b> twice")
	tb.WaitFor(marks + ` === "<b>|twice|<b>|twice"`)
	// The download link is for what the view shows.
	want := "/api/logs/download?" + url.Values{"file": {path}, "search": {"/<b>|tw.ce/"}}.Encode()
	if got := browser.Eval[string](tb.Tab, `document.getElementById("download").getAttribute("href")`); got != want {
		t.Errorf("the download link is %q, want %q", got, want)
	}

	// Go's syntax that JavaScript rejects: the lines, without highlight.
	tb.setSearch("/(?P<w>match)/")
	tb.WaitFor(lineCount + " === 2")
	tb.waitForLine("INFO <b>x</b> match")
	if got := browser.Eval[string](tb.Tab, marks); got != "" {
		t.Errorf("marks %q under an expression the browser rejects", got)
	}
	// An empty match marks nothing.
	tb.setSearch("/x*/")
	tb.WaitFor(lineCount + " === 4")
	if got := browser.Eval[string](tb.Tab, marks); got != "x" {
		t.Errorf("marks %q under /x*/, want x", got)
	}
	chromium.Close()
}
