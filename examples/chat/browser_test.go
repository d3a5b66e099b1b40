package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// TestBrowserChat drives two real pages in one room: bob's page goes through
// a proxy that the test can cut, to see it reconnect.
//
// CHAT_SCREENSHOT=/tmp/chat-room.png saves a screenshot of ann's page.
func TestBrowserChat(t *testing.T) {
	ts := newTestServer(t)
	proxy := testkit.NewProxy(t, ts.Listener.Addr().String())

	chromium := browser.New(t, 1100, 700)
	ann := &tab{chromium.NewTab("ann")}
	bob := &tab{chromium.NewTab("bob")}

	// A backlog longer than the page is high.
	carl := ts.join(t, "e2e", "carl")
	for i := range 30 {
		carl.say(t, fmt.Sprintf("backlog line %d", i+1))
	}

	ann.Do(chromedp.Navigate(ts.URL + "/rooms/e2e?name=ann"))
	ann.WaitFor(`document.getElementById("status").dataset.state === "connected"`)
	bob.Do(chromedp.Navigate(proxy.URL() + "/rooms/e2e?name=bob"))
	bob.WaitFor(`document.getElementById("status").dataset.state === "connected"`)
	ann.WaitFor(`[...document.querySelectorAll("#members li")].some(li => li.textContent === "bob")`)

	bob.waitForMessage("carl", "backlog line 30")
	if !browser.Eval[bool](bob.Tab, atBottom) {
		t.Error("bob's page did not open at the latest message")
	}

	// A reader who scrolled up stays where he is; one at the bottom follows.
	browser.Eval[int](bob.Tab, `document.getElementById("messages").scrollTop = 0`)
	carl.say(t, "while bob reads the backlog")
	bob.waitForMessage("carl", "while bob reads the backlog")
	if browser.Eval[int](bob.Tab, `document.getElementById("messages").scrollTop`) != 0 {
		t.Error("a new message moved bob's page while he was reading the backlog")
	}
	bob.WaitFor(`!document.getElementById("new-below").hidden`)
	bob.Do(chromedp.Click(chromedp.CSS("#new-below")))
	bob.WaitFor(atBottom)
	carl.say(t, "and now bob follows")
	bob.waitForMessage("carl", "and now bob follows")
	if !browser.Eval[bool](bob.Tab, atBottom) {
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
		if got := browser.Eval[string](tb.Tab, `[...document.querySelectorAll("#messages .message .text")].pop().textContent`); got != xss {
			t.Errorf("%s's last message reads %q, want %q", tb.Name, got, xss)
		}
		if n := browser.Eval[int](tb.Tab, `document.querySelectorAll("#messages img").length`); n != 0 {
			t.Errorf("%s's message list has %d <img> elements", tb.Name, n)
		}
	}

	// Cut bob's connection: his page reconnects by itself, and the history
	// it gets again replaces what it showed instead of doubling it.
	proxy.Cut()
	ann.WaitFor(notices("bob left") + " === 1")
	ann.say("did you miss this?")
	bob.waitForMessage("ann", "did you miss this?")
	bob.WaitFor(`document.getElementById("status").dataset.state === "connected"`)
	ann.WaitFor(notices("bob joined") + " === 2")
	for _, text := range []string{"hello bob", "hi ann, ça va ?", xss, "did you miss this?"} {
		if n := bob.count(text); n != 1 {
			t.Errorf("after reconnecting, bob's page shows %q %d times", text, n)
		}
	}
	bob.say("back again")
	ann.waitForMessage("bob", "back again")

	ann.Screenshot("CHAT_SCREENSHOT")
	chromium.Close()
}

// atBottom is a JavaScript expression: the message list shows its end.
const atBottom = `(l => l.scrollHeight - l.scrollTop - l.clientHeight < 2)(document.getElementById("messages"))`

// tab is one browser page of the test: a chat room's.
type tab struct{ *browser.Tab }

func (tb *tab) say(text string) {
	tb.T.Helper()
	tb.WaitFor(`!document.getElementById("text").disabled`)
	tb.Do(
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send-button")),
	)
	tb.WaitFor(`document.getElementById("text").value === ""`)
}

func (tb *tab) waitForMessage(from, text string) {
	tb.T.Helper()
	tb.WaitFor(fmt.Sprintf(`[...document.querySelectorAll("#messages .message")].some(li =>
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
	return browser.Eval[int](tb.Tab, fmt.Sprintf(`[...document.querySelectorAll("#messages .message .text")].filter(e => e.textContent === %s).length`, browser.JSString(text)))
}

// The page says when the chat cannot store messages (NATS lost), and when
// it can again.
func TestBrowserShowsStorageOutage(t *testing.T) {
	cl := newCluster(t)
	cl.lease = time.Minute // the name outlives the outage
	A := cl.instance(t, "A")
	chromium := browser.New(t, 1100, 700)
	ann := &tab{chromium.NewTab("ann")}
	ann.Do(chromedp.Navigate(A.URL + "/rooms/out?name=ann"))
	ann.WaitFor(`document.getElementById("status").dataset.state === "connected"`)

	natstest.Stop(cl.nats)
	ann.WaitFor(`document.getElementById("status").dataset.state === "degraded" &&
		document.getElementById("status").textContent.includes("cannot be sent")`)
	cl.nats = natstest.StartJetStream(t, cl.port, cl.store)
	ann.WaitFor(`document.getElementById("status").dataset.state === "connected"`)
	chromium.Close()
}
