package browser

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// Timeout bounds a whole browser test, Chromium's start included.
const Timeout = 60 * time.Second

// Browser is a headless Chromium for one test (see NewAllocator) and its
// tabs, all bounded by Timeout. Its tabs count the JavaScript dialogs that
// they open: a page under test should open none.
type Browser struct {
	t       *testing.T
	alloc   context.Context
	first   context.Context      // the first tab's; nil until NewTab
	cancels []context.CancelFunc // the allocator's, then the tabs'
	dialogs atomic.Int32
}

// New describes a headless Chromium with a window of width × height; its
// first tab starts it. Chromium is killed at the end of the test, if Close
// did not kill it before.
func New(t *testing.T, width, height int) *Browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	alloc, allocCancel := NewAllocator(t, ctx, width, height)
	b := &Browser{t: t, alloc: alloc, cancels: []context.CancelFunc{allocCancel}}
	t.Cleanup(b.quit)
	return b
}

// NewTab opens a tab named name, for the failure messages; the first tab
// starts Chromium.
func (b *Browser) NewTab(name string) *Tab {
	b.t.Helper()
	parent := b.first
	if parent == nil {
		parent = b.alloc
	}
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithListener(b.countDialogs))
	b.cancels = append(b.cancels, cancel)
	if b.first == nil {
		b.first = ctx
		if err := chromedp.Do(ctx); err != nil { // starts the browser
			b.t.Fatalf("starting Chromium: %v", err)
		}
	}
	return &Tab{T: b.t, Ctx: ctx, Name: name}
}

func (b *Browser) countDialogs(ev any) {
	if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
		b.dialogs.Add(1)
	}
}

// Close closes the tabs, the newest first, and kills Chromium. The test
// fails if a tab opened a JavaScript dialog, or if Chromium still runs once
// Close returns.
func (b *Browser) Close() {
	b.t.Helper()
	if n := b.dialogs.Load(); n != 0 {
		b.t.Errorf("%d JavaScript dialogs opened", n)
	}
	if b.first == nil {
		b.quit()
		return
	}
	pid := chromedp.FromContext(b.first).Browser.Process().Pid
	b.quit()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		b.t.Errorf("Chromium (pid %d) still running after the allocator was cancelled: %v", pid, err)
	}
}

// quit cancels the tabs, the newest first, then the allocator, which kills
// Chromium and waits for it. It may be called twice.
func (b *Browser) quit() {
	for i := len(b.cancels) - 1; i >= 0; i-- {
		b.cancels[i]()
	}
}

// Tab is one page of a browser test. Its methods fail the test on an
// error, naming the tab when it has a name.
type Tab struct {
	T    testing.TB
	Ctx  context.Context // the tab's chromedp context
	Name string          // "" for the only tab of a test
}

func (tb *Tab) fatalf(format string, args ...any) {
	tb.T.Helper()
	if tb.Name != "" {
		format, args = "%s: "+format, append([]any{tb.Name}, args...)
	}
	tb.T.Fatalf(format, args...)
}

// Do runs the steps in the page.
func (tb *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
	tb.T.Helper()
	if err := chromedp.Do(tb.Ctx, steps...); err != nil {
		tb.fatalf("%v", err)
	}
}

// WaitFor waits until the JavaScript expression is true in the page, for
// at most testkit.Wait. It polls on a timer: a tab in the background gets
// no animation frames.
func (tb *Tab) WaitFor(expr string) {
	tb.T.Helper()
	_, err := chromedp.Run(tb.Ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(testkit.Wait)))
	if err != nil {
		tb.fatalf("waiting for %s: %v", expr, err)
	}
}

// Run evaluates the JavaScript expression in the page for its effects.
func (tb *Tab) Run(expr string) {
	tb.T.Helper()
	Eval[any](tb, expr)
}

// Eval returns the value of the JavaScript expression in the page.
func Eval[T any](tb *Tab, expr string) T {
	tb.T.Helper()
	v, err := chromedp.Run(tb.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Screenshot saves a screenshot of the page as PNG in the file that the
// environment variable env names, if it names one.
func (tb *Tab) Screenshot(env string) {
	tb.T.Helper()
	path := os.Getenv(env)
	if path == "" {
		return
	}
	png, err := chromedp.Run(tb.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.fatalf("%v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.fatalf("%v", err)
	}
	what := "the page"
	if tb.Name != "" {
		what = tb.Name + "'s page"
	}
	tb.T.Logf("screenshot of %s in %s", what, path)
}
