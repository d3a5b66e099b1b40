package tail

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mode is one way of noticing changes.
type mode struct {
	name string
	poll bool
}

// modes runs every behaviour test with notifications and with polling. With
// notifications the safety-net poll is made so slow that only events can
// make a test pass in time.
var modes = []mode{{"fsnotify", false}, {"polling", true}}

func (m mode) config(path string) Config {
	cfg := Config{Path: path, Since: -1, UsePolling: m.poll, PollInterval: time.Hour}
	if m.poll {
		cfg.PollInterval = 10 * time.Millisecond
	}
	return cfg
}

// forModes runs f once per mode as a subtest.
func forModes(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

// follower wraps Follow for tests: it stops the tailer at the end of the
// test and checks the channel gets closed.
type follower struct {
	t  *testing.T
	ch <-chan Line
}

func follow(t *testing.T, cfg Config) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Follow(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("Follow: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		waitClosed(t, ch)
	})
	return &follower{t: t, ch: ch}
}

// waitClosed drains ch until it is closed, failing after testkit.Wait.
func waitClosed(t *testing.T, ch <-chan Line) {
	t.Helper()
	deadline := time.NewTimer(testkit.Wait)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline.C:
			t.Fatal("line channel not closed after cancel")
		}
	}
}

// next returns the next line, failing after testkit.Wait.
func (f *follower) next() Line {
	f.t.Helper()
	select {
	case l, ok := <-f.ch:
		if !ok {
			f.t.Fatal("line channel closed unexpectedly")
		}
		return l
	case <-time.After(testkit.Wait):
		f.t.Fatal("timed out waiting for a line")
	}
	return Line{}
}

// expect checks the next lines' texts.
func (f *follower) expect(texts ...string) []Line {
	f.t.Helper()
	var got []Line
	for _, want := range texts {
		l := f.next()
		if l.Text != want {
			f.t.Fatalf("got line %+v, want text %q", l, want)
		}
		got = append(got, l)
	}
	return got
}

// expectNone checks that no line arrives within d. It cannot fail
// spuriously: a slow machine can only make it pass.
func (f *follower) expectNone(d time.Duration) {
	f.t.Helper()
	select {
	case l, ok := <-f.ch:
		f.t.Fatalf("unexpected line %+v (open %v)", l, ok)
	case <-time.After(d):
	}
}

// appendFile appends s to path, creating it if needed.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
