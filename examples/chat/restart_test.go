package main

import (
	"context"
	"log"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// The server restarts under an open page: the page sees the 1001, shows
// that it is disconnected, and reconnects by itself to the new process,
// since the last message it saw (the history is on disk): what was said
// meanwhile arrives once, and nothing is shown twice.
func TestBrowserReconnectsAfterServerRestart(t *testing.T) {
	data := t.TempDir()
	first, addr := startServing(t, "", data)
	ctx, cancel := context.WithTimeout(context.Background(), browser.Timeout)
	defer cancel()
	allocCtx, allocCancel := browser.NewAllocator(t, ctx, 1100, 700)
	defer allocCancel()
	pageCtx, pageCancel := chromedp.NewContext(allocCtx)
	defer pageCancel()
	ann := &tab{&browser.Tab{T: t, Ctx: pageCtx, Name: "ann"}}
	ann.Do(chromedp.Navigate("http://" + addr + "/rooms/restart?name=ann"))
	ann.WaitFor(`document.getElementById("status").dataset.state === "connected"`)
	bob := (&testServer{Server: &httptest.Server{URL: "http://" + addr}}).join(t, "restart", "bob")
	bob.say(t, "before")
	ann.waitForMessage("bob", "before")
	ann.say("me too")
	bob.expect(t, msg("ann", "me too"))

	first.stop()
	ann.WaitFor(`document.getElementById("status").dataset.state !== "connected"`)

	second, _ := startServing(t, addr, data)
	defer second.stop()
	// bob is back at once, and speaks before ann's page has reconnected.
	bob = (&testServer{Server: &httptest.Server{URL: "http://" + addr}}).join(t, "restart", "bob")
	bob.say(t, "while you were away")
	ann.WaitFor(`document.getElementById("status").dataset.state === "connected"`)
	bob.say(t, "welcome back")
	ann.waitForMessage("bob", "welcome back")
	ann.waitForMessage("bob", "while you were away")
	for _, text := range []string{"before", "me too", "while you were away", "welcome back"} {
		if n := ann.count(text); n != 1 {
			t.Errorf("after the restart, ann's page shows %q %d times, want once", text, n)
		}
	}
	if n := browser.Eval[int](ann.Tab, `document.querySelectorAll("#messages .message").length`); n != 4 {
		t.Errorf("ann's page shows %d messages, want 4", n)
	}
	bob.close()
	pageCancel()
	allocCancel()
}

// serving is the chat command's serve loop on a real listener.
type serving struct {
	app    *app
	cancel context.CancelFunc
	done   chan error
}

// startServing serves a new app on addr ("" picks a port), storing in
// dataDir, as the command does, and returns it with the address it listens
// on.
func startServing(t *testing.T, addr, dataDir string) (*serving, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	deadline := time.Now().Add(testkit.Wait)
	for { // the old process's port may take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(config{Logger: log.New(&syncBuffer{}, "", 0), DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serve(ctx, ln, a) }()
	t.Cleanup(s.stop)
	return s, ln.Addr().String()
}

// stop shuts the server down as SIGTERM would; it may be called twice.
func (s *serving) stop() {
	s.cancel()
	if s.done != nil {
		<-s.done
		s.done = nil
		s.app.Close()
	}
}
