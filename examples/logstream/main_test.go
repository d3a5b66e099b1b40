package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/examples/logstream/logline"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// TestServeShutsDown is what SIGINT does: the sockets are closed with 1001,
// the server stops, serve returns.
func TestServeShutsDown(t *testing.T) {
	path := logFile(t, "app.log")
	logs := &syncBuffer{}
	a, err := newApp(config{Files: []string{path}, LogOutput: logs, Group: &sockets.Group{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := testkit.Serve(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, a) })

	ts := &testServer{app: a, log: logs}
	u := "ws://" + srv.Addr + "/api/logs/stream"
	ws, _, _, err := testkit.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws}
	ts.waitLive(t, path, 1)
	appendLines(t, path, "before shutdown")
	c.expect("before shutdown")

	srv.Stop()
	var ce *websocket.CloseError
	if err := c.closed(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("the client's socket ended with %v, want a 1001 close", err)
	}
	srv.Wait(t)
	if _, _, _, err := testkit.Dial(u); err == nil {
		t.Error("a socket opened after the shutdown")
	}
	if !strings.Contains(logs.String(), "shut down") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestDemoLines: the made-up log has every level, and every line but the
// stack continuation lines has a level and a time that logline finds.
func TestDemoLines(t *testing.T) {
	g := newLogGen(rand.New(rand.NewPCG(1, 2)))
	levels := map[string]int{}
	now := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	for range 2000 {
		for _, l := range strings.Split(strings.TrimSuffix(g.line(now), "\n"), "\n") {
			info := logline.Parse(l)
			if strings.HasPrefix(l, "\tat ") {
				if info.Level != "" {
					t.Errorf("continuation line %q has level %q", l, info.Level)
				}
				continue
			}
			if info.Level == "" || !info.Time.Truncate(time.Second).Equal(now) {
				t.Fatalf("line %q: level %q, time %v", l, info.Level, info.Time)
			}
			levels[info.Level]++
		}
	}
	for _, l := range []string{"debug", "info", "warn", "error"} {
		if levels[l] < 50 {
			t.Errorf("only %d %s lines in 2000: %v", levels[l], l, levels)
		}
	}
}

// TestDemoStreams runs the demo writer under the app: lines come live, and
// stopping the demo removes its file.
func TestDemoStreams(t *testing.T) {
	d, err := startDemo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			d.stop()
		}
	})
	ts := newTestServer(t, d.path)
	ts.waitRing(t, d.path, 60) // the history
	c := ts.stream(t, query("backfill", "0"))
	for range 3 {
		if f := c.line(); f.File != d.path {
			t.Fatalf("got %s", f.raw)
		}
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
		t.Errorf("the demo directory is still there: %v", err)
	}
}
