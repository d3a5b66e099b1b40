package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser test, Chromium's start included.
const browserTimeout = 60 * time.Second

// findChromium returns the browser to drive. Without one the test is
// skipped, except under CI=true, where it fails.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Chromium found in PATH (looked for chromium, chromium-browser, google-chrome)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true needs the browser tests to run")
	}
	t.Skip(msg + ": skipping the browser test")
	return ""
}

// TestBrowserChat drives two real pages in one room: bob's page goes through
// a proxy that the test can cut, to see it reconnect.
//
// CHAT_SCREENSHOT=/tmp/chat-room.png saves a screenshot of ann's page.
func TestBrowserChat(t *testing.T) {
	chromium := findChromium(t)
	ts := newTestServer(t)
	proxy := newCutProxy(t, ts.Listener.Addr().String())
	dataDir := t.TempDir()
	// Registered after TempDir, so it runs before the directory goes.
	t.Cleanup(func() { noProcessesUsing(t, dataDir) })

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	allocCtx, allocCancel := newAllocator(ctx, chromium, dataDir)
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
		t.Fatalf("starting %s: %v", chromium, err)
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
	proxy.cut()
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

// newAllocator starts nothing yet: it describes a headless Chromium with a
// fresh profile in dataDir, cut off from the network but for 127.0.0.1.
func newAllocator(ctx context.Context, chromium, dataDir string) (context.Context, context.CancelFunc) {
	opts := append([]chromedp.ExecAllocatorOption(nil), chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(1100, 700),
	)
	return chromedp.NewExecAllocator(ctx, opts...)
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
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout)))
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
		jsString(from), jsString(text)))
}

// notices is a JavaScript expression: how many notices in the page read
// text.
func notices(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages li.notice")].filter(e => e.textContent === %s).length`, jsString(text))
}

// count returns how many messages in the page read text.
func (tb *tab) count(text string) int {
	return eval[int](tb, fmt.Sprintf(`[...document.querySelectorAll("#messages .message .text")].filter(e => e.textContent === %s).length`, jsString(text)))
}

func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v", tb.name, expr, err)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cutProxy forwards TCP connections to a server, until cut closes them all.
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		conns := p.conns
		p.conns = nil // closed: no more tracking
		p.mu.Unlock()
		for c := range conns {
			c.Close()
		}
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *cutProxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, waitTimeout)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	p.mu.Lock()
	if p.conns != nil {
		delete(p.conns, client)
		delete(p.conns, server)
	}
	p.mu.Unlock()
}

func (p *cutProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil { // closed
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// cut closes every connection in flight; new ones are still accepted.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// noProcessesUsing fails the test when processes started with dir as their
// user data directory outlive it, and kills them. Linux only: it reads /proc.
func noProcessesUsing(t *testing.T, dir string) {
	want := []byte("--user-data-dir=" + dir + "\x00")
	find := func() []int {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return nil
		}
		var pids []int
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && bytes.Contains(cmdline, want) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	// Children may take a moment to notice that their parent is gone.
	deadline := time.Now().Add(waitTimeout)
	for pids := find(); len(pids) > 0; pids = find() {
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("Chromium processes %v outlived the test", pids)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
