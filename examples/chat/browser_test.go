package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/internal/testkit/browser"
)

// browserTimeout bounds the whole browser test, Chromium's start included.
const browserTimeout = 60 * time.Second

// TestBrowserChat drives two real pages in one room: bob's page goes through
// a proxy that the test can cut, to see it reconnect.
//
// CHAT_SCREENSHOT=/tmp/chat-room.png saves a screenshot of ann's page.
func TestBrowserChat(t *testing.T) {
	ts := newTestServer(t)
	proxy := testkit.NewProxy(t, ts.Listener.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	allocCtx, allocCancel := browser.NewAllocator(t, ctx, 1100, 700)
	defer allocCancel() // kills Chromium and waits for it

	var dialogs atomic.Int32
	noDialogs := chromedp.WithListener(func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	})
	annCtx, annCancel := chromedp.NewContext(allocCtx, noDialogs)
	defer annCancel()
	if err := chromedp.Do(annCtx); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	bobCtx, bobCancel := chromedp.NewContext(annCtx, noDialogs) // a second tab
	defer bobCancel()

	// A backlog longer than the page is high.
	carl := ts.join(t, "e2e", "carl")
	for i := range 30 {
		carl.say(t, fmt.Sprintf("backlog line %d", i+1))
	}

	ann := &tab{t: t, ctx: annCtx, name: "ann"}
	bob := &tab{t: t, ctx: bobCtx, name: "bob"}
	ann.do(chromedp.Navigate(ts.URL + "/rooms/e2e?name=ann"))
	ann.waitFor(`document.getElementById("status").dataset.state === "connected"`)
	bob.do(chromedp.Navigate(proxy.URL() + "/rooms/e2e?name=bob"))
	bob.waitFor(`document.getElementById("status").dataset.state === "connected"`)
	ann.waitFor(`[...document.querySelectorAll("#members li")].some(li => li.textContent === "bob")`)

	bob.waitForMessage("carl", "backlog line 30")
	if !eval[bool](bob, atBottom) {
		t.Error("bob's page did not open at the latest message")
	}

	// A reader who scrolled up stays where he is; one at the bottom follows.
	eval[int](bob, `document.getElementById("messages").scrollTop = 0`)
	carl.say(t, "while bob reads the backlog")
	bob.waitForMessage("carl", "while bob reads the backlog")
	if eval[int](bob, `document.getElementById("messages").scrollTop`) != 0 {
		t.Error("a new message moved bob's page while he was reading the backlog")
	}
	bob.waitFor(`!document.getElementById("new-below").hidden`)
	bob.do(chromedp.Click(chromedp.CSS("#new-below")))
	bob.waitFor(atBottom)
	carl.say(t, "and now bob follows")
	bob.waitForMessage("carl", "and now bob follows")
	if !eval[bool](bob, atBottom) {
		t.Error("a new message did not scroll bob's page, at the bottom, to it")
	}

	ann.say("hello bob")
	bob.waitForMessage("ann", "hello bob")
	bob.say("hi ann, ça va ?")
	ann.waitForMessage("bob", "hi ann, ça va ?")

	const xss = `<img src=x onerror=alert(1)>`
	ann.say(xss)
	bob.waitForMessage("ann", xss)
	for _, tb := range []*tab{ann, bob} {
		if got := eval[string](tb, `[...document.querySelectorAll("#messages .message .text")].pop().textContent`); got != xss {
			t.Errorf("%s's last message reads %q, want %q", tb.name, got, xss)
		}
		if n := eval[int](tb, `document.querySelectorAll("#messages img").length`); n != 0 {
			t.Errorf("%s's message list has %d <img> elements", tb.name, n)
		}
	}

	// Cut bob's connection: his page reconnects by itself, and the history
	// it gets again replaces what it showed instead of doubling it.
	proxy.Cut()
	ann.waitFor(notices("bob left") + " === 1")
	ann.say("did you miss this?")
	bob.waitForMessage("ann", "did you miss this?")
	bob.waitFor(`document.getElementById("status").dataset.state === "connected"`)
	ann.waitFor(notices("bob joined") + " === 2")
	for _, text := range []string{"hello bob", "hi ann, ça va ?", xss, "did you miss this?"} {
		if n := bob.count(text); n != 1 {
			t.Errorf("after reconnecting, bob's page shows %q %d times", text, n)
		}
	}
	bob.say("back again")
	ann.waitForMessage("bob", "back again")

	if path := os.Getenv("CHAT_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(annCtx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of ann's page in %s", path)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}

	pid := chromedp.FromContext(annCtx).Browser.Process().Pid
	bobCancel()
	annCancel()
	allocCancel()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("Chromium (pid %d) still running after the allocator was cancelled: %v", pid, err)
	}
}

// atBottom is a JavaScript expression: the message list shows its end.
const atBottom = `(l => l.scrollHeight - l.scrollTop - l.clientHeight < 2)(document.getElementById("messages"))`

// tab is one browser page of the test.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

// waitFor waits until the JavaScript expression is true in the page. The
// test's context bounds the wait. It polls on a timer: a tab in the
// background gets no animation frames.
func (tb *tab) waitFor(expr string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(testkit.Wait)))
	if err != nil {
		tb.t.Fatalf("%s: waiting for %s: %v", tb.name, expr, err)
	}
}

func (tb *tab) say(text string) {
	tb.t.Helper()
	tb.waitFor(`!document.getElementById("text").disabled`)
	tb.do(
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send-button")),
	)
	tb.waitFor(`document.getElementById("text").value === ""`)
}

func (tb *tab) waitForMessage(from, text string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf(`[...document.querySelectorAll("#messages .message")].some(li =>
		li.querySelector(".from").textContent === %s && li.querySelector(".text").textContent === %s)`,
		browser.JSString(from), browser.JSString(text)))
}

// notices is a JavaScript expression: how many notices in the page read
// text.
func notices(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages li.notice")].filter(e => e.textContent === %s).length`, browser.JSString(text))
}

// count returns how many messages in the page read text.
func (tb *tab) count(text string) int {
	return eval[int](tb, fmt.Sprintf(`[...document.querySelectorAll("#messages .message .text")].filter(e => e.textContent === %s).length`, browser.JSString(text)))
}

func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v", tb.name, expr, err)
	}
	return v
}
