package client_test

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/client"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
	"gopkg.in/macaron.v1"
)

// readmeHistory is how many messages the README room's history keeps:
// few, so that a page away for longer misses some and must start over.
const readmeHistory = 5

// readmePageTemplate is the README's complete page for sockets.js, as
// written there, parsed as the README says: an html/template whose
// socketsScript is client.ScriptTag("/sockets.js").
var readmePageTemplate = sync.OnceValues(func() (*template.Template, error) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		return nil, err
	}
	_, section, ok := strings.Cut(string(readme), "\n## The browser client: sockets.js\n")
	if !ok {
		return nil, errors.New(`the README has no "## The browser client: sockets.js" section`)
	}
	_, page, ok := strings.Cut(section, "\n```html\n")
	if !ok {
		return nil, errors.New("the README's sockets.js section has no html block")
	}
	page, _, ok = strings.Cut(page, "\n```\n")
	if !ok {
		return nil, errors.New("the README's html block does not end")
	}
	return template.New("readme").Funcs(template.FuncMap{
		"socketsScript": func() template.HTML { return client.ScriptTag("/sockets.js") },
	}).Parse(page)
})

// readmePage serves the README's page.
func (s *testServer) readmePage(w http.ResponseWriter) {
	page, err := readmePageTemplate()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, nil)
}

// readmeRoom is the handler of the README's "History, recovery and
// presence", as written there, on the server's readme hub; it also notes
// each connection under the key "readme:" and the name.
func (s *testServer) readmeRoom(ctx *macaron.Context, c *sockets.Conn,
	receiver <-chan string, sender chan<- string, done <-chan bool) {
	hub := s.readme
	s.accept("readme:"+ctx.Query("name"), c, ctx.Query("since"))

	room := ctx.Params("room")
	if _, err := hub.Claim(ctx.Req.Context(), room, c, ctx.Query("name"), nil); err != nil {
		c.Close(4409, "name taken") // sockets.ErrKeyTaken; a code of the app's, final for its page
		return
	}
	since, _ := sockets.ParsePosition(ctx.Query("since")) // the last "pos" the client saw
	if err := hub.JoinSince(ctx.Req.Context(), room, c, since); err != nil {
		sender <- `{"error":"reload"}` // sockets.ErrCannotRecover: start over
		return
	}
	for {
		select {
		case msg := <-receiver:
			hub.Publish(room, sockets.TextMessage, []byte(msg)) // stored, then delivered
		case <-done:
			return // the claim is released after done
		}
	}
}

// readmeSpy records, in the README's page, every text its status line
// shows, in window.seen, and lists the messages' texts.
const readmeSpy = `window.seen = [];
new MutationObserver(() => seen.push(document.getElementById("status").textContent))
  .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
window.items = () => [...document.querySelectorAll("#messages li")].map((li) => li.textContent);
true`

// say types text in the README page's form and sends it.
func say(tb *browser.Tab, text string) {
	tb.T.Helper()
	tb.Run(`document.getElementById("text").value = ` + browser.JSString(text) + `; document.getElementById("say").requestSubmit()`)
}

// TestBrowserREADMEPage runs the README's complete page for sockets.js in
// Chromium against the README's room handler: a message sent comes back
// once, as text; a server restart shows the countdown and the reason,
// a message sent meanwhile is queued and arrives once; the app's final
// code (a name taken) is not retried; a page that missed more than the
// history keeps starts over with what is kept.
func TestBrowserREADMEPage(t *testing.T) {
	if _, err := readmePageTemplate(); err != nil {
		t.Fatal(err)
	}
	chromium := browser.New(t, 800, 600)
	ts := newTestServer(t)
	ann := chromium.NewTab("ann")
	ann.Do(chromedp.Navigate(ts.URL + "/readme?name=ann"))
	ann.WaitFor(`document.getElementById("status").textContent === "open"`)
	ann.Run(readmeSpy)

	const markup = `<b onmouseover="window.pwned=1">one</b>`
	say(ann, markup)
	ann.WaitFor(`items().length === 1`)
	if got := browser.Eval[[]string](ann, `items()`); !slices.Equal(got, []string{markup}) {
		t.Errorf("the list shows %q, want %q", got, markup)
	}
	if browser.Eval[int](ann, `document.querySelectorAll("#messages b").length`) != 0 {
		t.Error("a message's markup made an element")
	}

	// A restart: the page counts down, says why, queues what is said
	// meanwhile and sends it once when back.
	ts.stop()
	ann.WaitFor(`seen.some((s) => /^Reconnecting in \d+ s \(server shutdown\)$/.test(s))`)
	say(ann, "two")
	time.Sleep(100 * time.Millisecond)
	ts.start()
	ann.WaitFor(`items().length === 2`)
	ann.WaitFor(`document.getElementById("status").textContent === "open"`)
	time.Sleep(200 * time.Millisecond) // a duplicate would come now
	if got := browser.Eval[[]string](ann, `items()`); !slices.Equal(got, []string{markup, "two"}) {
		t.Errorf("after the restart the list shows %q, want %q", got, []string{markup, "two"})
	}

	// The name taken is the app's final code: that page stays closed.
	before := ts.count("readme:ann")
	again := chromium.NewTab("ann again")
	again.Do(chromedp.Navigate(ts.URL + "/readme?name=ann"))
	again.WaitFor(`document.getElementById("status").textContent === "Closed: name taken"`)
	time.Sleep(1500 * time.Millisecond) // longer than the first delay: a retry would have come
	if n := ts.count("readme:ann") - before; n != 1 {
		t.Errorf("the page whose name is taken connected %d times, want once", n)
	}
	if got := browser.Eval[string](again, `document.getElementById("status").textContent`); got != "Closed: name taken" {
		t.Errorf("the page whose name is taken shows %q", got)
	}

	// A page away while more than the history keeps is said starts over:
	// the list is cleared and shows what is kept.
	bob := chromium.NewTab("bob")
	bob.Do(chromedp.Navigate(ts.URL + "/readme?name=bob"))
	bob.WaitFor(`document.getElementById("status").textContent === "open"`)
	bob.Run(readmeSpy)
	bob.WaitFor(`items().length === 2`)
	ts.stop()
	var want []string
	for i := 1; i <= readmeHistory+1; i++ {
		text := fmt.Sprintf("m%d", i)
		if err := ts.readme.Publish("lobby", sockets.TextMessage, fmt.Appendf(nil, `{"type":"message","text":%q}`, text)); err != nil {
			t.Fatal(err)
		}
		if i > 1 {
			want = append(want, text)
		}
	}
	ts.start()
	bob.WaitFor(fmt.Sprintf(`items().join(" ") === %q`, strings.Join(want, " ")))
	if sinces := ts.sinceOf("readme:bob"); len(sinces) < 3 || sinces[0] != "" || sinces[1] == "" || sinces[len(sinces)-1] != "" {
		t.Errorf("since= of bob's connections: %q, want none, a position, then none", sinces)
	}
	if browser.Eval[bool](ann, `window.pwned !== undefined`) {
		t.Error("markup ran")
	}

	chromium.Close()
}
