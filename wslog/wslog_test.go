package wslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"go.uber.org/goleak"
)

func newHandler(t *testing.T, hub *sockets.Hub, opts *Options) *Handler {
	t.Helper()
	h := New(hub, room, opts)
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRecordsReachTheRoom(t *testing.T) {
	s := newServer(t, nil)
	c := s.join(t)
	h := newHandler(t, s.hub, &Options{File: "app"})
	logger := slog.New(h)

	before := time.Now()
	logger.Info("hello <b>world</b>", "user", "ann", "n", 3)
	logger.Error("it broke", "err", errors.New("disk full"))

	rec, line := c.next()
	if rec.File != "app" || rec.Offset != 0 || rec.Level != "info" {
		t.Errorf("first record %+v: want file app, offset 0, level info", rec)
	}
	ts, err := time.Parse(time.RFC3339Nano, rec.Time)
	if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("time %q: %v (want about now)", rec.Time, err)
	}
	if line["msg"] != "hello <b>world</b>" || line["user"] != "ann" || line["n"] != 3.0 || line["level"] != "INFO" {
		t.Errorf("line %s lacks the record's fields", rec.Line)
	}
	if strings.HasSuffix(rec.Line, "\n") {
		t.Errorf("line %q ends with a newline", rec.Line)
	}
	rec, line = c.next()
	if rec.Offset != 1 || rec.Level != "error" || line["msg"] != "it broke" || line["err"] != "disk full" {
		t.Errorf("second record %+v (line %v)", rec, line)
	}
}

// TestFormatsLikeJSONHandler compares each line with what slog.JSONHandler
// writes for the same record and the same WithAttrs/WithGroup chain.
func TestFormatsLikeJSONHandler(t *testing.T) {
	s := newServer(t, nil)
	c := s.join(t)
	h := newHandler(t, s.hub, &Options{Level: slog.LevelDebug})
	var want bytes.Buffer
	ref := slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug})

	type chain func(slog.Handler) slog.Handler
	chains := []struct {
		name  string
		chain chain
		attrs []slog.Attr
	}{
		{"plain", func(h slog.Handler) slog.Handler { return h }, []slog.Attr{slog.Int("status", 200)}},
		{"attrs", func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("svc", "api"), slog.Bool("canary", true)})
		}, []slog.Attr{slog.Duration("took", 12*time.Millisecond)}},
		{"group then attrs", func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("svc", "api")}).WithGroup("req").WithAttrs([]slog.Attr{slog.Int("id", 7)})
		}, []slog.Attr{slog.String("path", "/x"), slog.Group("user", slog.String("name", "ann"), slog.Int("age", 41))}},
		{"nested groups", func(h slog.Handler) slog.Handler {
			return h.WithGroup("a").WithGroup("b")
		}, []slog.Attr{slog.String("k", `quote " and <html> & newline
`)}},
		{"empty group omitted", func(h slog.Handler) slog.Handler {
			return h.WithGroup("nothing")
		}, nil},
		{"inlined group", func(h slog.Handler) slog.Handler { return h },
			[]slog.Attr{slog.Any("list", []int{1, 2}), slog.Group("", slog.String("inlined", "yes"))}},
	}
	at := time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)
	for i, tc := range chains {
		r := slog.NewRecord(at, slog.LevelWarn, fmt.Sprintf("record %d", i), 0)
		r.AddAttrs(tc.attrs...)
		want.Reset()
		if err := tc.chain(ref).Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if err := tc.chain(h).Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		rec, _ := c.next()
		if got, w := rec.Line, strings.TrimSuffix(want.String(), "\n"); got != w {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, got, w)
		}
		if rec.Time != "2025-03-04T05:06:07.891011Z" || rec.Level != "warn" || rec.Offset != uint64(i) {
			t.Errorf("%s: record %+v", tc.name, rec)
		}
	}

	// As the slog.Handler contract says (slog.JSONHandler does not).
	if h.WithGroup("") != slog.Handler(h) || h.WithAttrs(nil) != slog.Handler(h) {
		t.Error("WithGroup(\"\") or WithAttrs(nil) did not return the receiver")
	}

	// Deriving handlers leaves the parent as it was.
	_ = h.WithAttrs([]slog.Attr{slog.String("leak", "no")}).WithGroup("g")
	slog.New(h).Info("parent")
	if _, line := c.next(); line["leak"] != nil || line["g"] != nil || line["msg"] != "parent" {
		t.Errorf("parent handler's line changed: %v", line)
	}
}

func TestLevelFiltering(t *testing.T) {
	s := newServer(t, nil)
	c := s.join(t)
	h := newHandler(t, s.hub, &Options{Level: slog.LevelWarn})
	ctx := context.Background()
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if got, want := h.Enabled(ctx, l), l >= slog.LevelWarn; got != want {
			t.Errorf("Enabled(%v) = %v, want %v", l, got, want)
		}
	}
	logger := slog.New(h)
	logger.Debug("d")
	logger.Info("i")
	logger.Warn("w")
	logger.Info("i2")
	logger.Error("e")
	logger.Log(ctx, slog.LevelError+4, "fatal")
	for i, want := range []struct{ msg, level string }{{"w", "warn"}, {"e", "error"}, {"fatal", "error"}} {
		rec, line := c.next()
		if line["msg"] != want.msg || rec.Level != want.level || rec.Offset != uint64(i) {
			t.Errorf("record %d: %+v, want msg %q level %q", i, rec, want.msg, want.level)
		}
	}

	// A dynamic level is read at each call.
	var lv slog.LevelVar
	lv.Set(slog.LevelError)
	h2 := newHandler(t, s.hub, &Options{Level: &lv})
	if h2.Enabled(ctx, slog.LevelWarn) {
		t.Error("warn enabled under LevelVar error")
	}
	lv.Set(slog.LevelDebug - 4)
	if !h2.Enabled(ctx, slog.LevelDebug-4) {
		t.Error("trace level not enabled after lowering the LevelVar")
	}
}

func TestLevelNames(t *testing.T) {
	for l, want := range map[slog.Level]string{
		slog.LevelDebug - 4: "debug", slog.LevelDebug: "debug", slog.LevelInfo: "info", slog.LevelInfo + 2: "info",
		slog.LevelWarn: "warn", slog.LevelError: "error", slog.LevelError + 8: "error",
	} {
		if got := levelName(l); got != want {
			t.Errorf("levelName(%v) = %q, want %q", l, got, want)
		}
	}
}

// TestConcurrentLoggersKeepSequence: records from many goroutines arrive
// once each, with offsets 0, 1, 2, … in arrival order.
func TestConcurrentLoggersKeepSequence(t *testing.T) {
	s := newServer(t, &sockets.HubOptions{SlowClientPolicy: sockets.DropMessage})
	c := s.join(t)
	const goroutines, each = 8, 100
	h := newHandler(t, s.hub, &Options{BufferSize: goroutines * each})
	logger := slog.New(h).With("component", "test")
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				logger.Info("concurrent", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool)
	for n := range goroutines * each {
		rec, line := c.next()
		if rec.Offset != uint64(n) {
			t.Fatalf("frame %d has offset %d", n, rec.Offset)
		}
		key := fmt.Sprint(line["g"], "/", line["i"])
		if seen[key] || line["component"] != "test" {
			t.Fatalf("frame %d: duplicate or wrong line %s", n, rec.Line)
		}
		seen[key] = true
	}
	if d := h.Dropped(); d != 0 {
		t.Errorf("dropped %d records", d)
	}
}

// TestFullBufferDropsWithoutBlocking stalls the publishing goroutine (its
// hub's broker never returns) and checks that logging goes on at full
// speed, dropping and counting what does not fit.
func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	broker := newBlockingBroker()
	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	const size, calls = 16, 10000
	h := New(hub, room, &Options{BufferSize: size})
	released := false
	release := func() {
		if !released {
			released = true
			close(broker.release)
		}
	}
	t.Cleanup(func() { release(); h.Close() })

	logger := slog.New(h)
	start := time.Now()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range calls {
			logger.Info("flood", "i", i)
		}
	}()
	select {
	case <-finished:
	case <-time.After(testkit.Wait):
		t.Fatalf("%d Handle calls still running after %v: the caller blocked", calls, testkit.Wait)
	}
	t.Logf("%d calls in %v", calls, time.Since(start))

	// The goroutine holds at most one record; the buffer the rest.
	if d := h.Dropped(); d < calls-size-1 || d > calls-size {
		t.Errorf("Dropped() = %d, want %d or %d", d, calls-size-1, calls-size)
	}
	release()
	h.Close()
	if p, d := h.Published(), h.Dropped(); p+d != calls {
		t.Errorf("published %d + dropped %d != %d records", p, d, calls)
	}
}

func TestCloseFlushesAndStops(t *testing.T) {
	s := newServer(t, &sockets.HubOptions{SlowClientPolicy: sockets.DropMessage})
	c := s.join(t)
	h := New(s.hub, room, nil)
	logger := slog.New(h)
	for i := range 50 {
		logger.Info("before close", "i", i)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if p := h.Published(); p != 50 {
		t.Errorf("Close published %d of the 50 buffered records", p)
	}
	for i := range 50 {
		if _, line := c.next(); line["i"] != float64(i) {
			t.Fatalf("record %d: %v", i, line)
		}
	}
	logger.Info("after close")
	logger.With("k", "v").Warn("derived, after close")
	if d := h.Dropped(); d != 2 {
		t.Errorf("Dropped() = %d after two records logged past Close, want 2", d)
	}
	h.Close() // twice is fine
	select {
	case <-h.core.stopped:
	default:
		t.Error("the publishing goroutine is still running after Close")
	}
}

func TestNewCloseLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	hub, err := sockets.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		h := New(hub, room, nil)
		slog.New(h).WithGroup("g").Info("x")
		h.Close()
	}
	goleak.VerifyNone(t, ignore)
}

func TestTee(t *testing.T) {
	s := newServer(t, nil)
	c := s.join(t)
	var text bytes.Buffer
	h := newHandler(t, s.hub, &Options{Level: slog.LevelWarn})
	logger := slog.New(Tee(slog.NewTextHandler(&text, &slog.HandlerOptions{Level: slog.LevelDebug}), h)).With("app", "demo")
	logger.Debug("only text")
	logger.Warn("both", "k", 1)
	rec, line := c.next()
	if line["msg"] != "both" || line["app"] != "demo" || rec.Offset != 0 {
		t.Errorf("room got %+v", rec)
	}
	out := text.String()
	if !strings.Contains(out, "msg=\"only text\" app=demo") || !strings.Contains(out, "msg=both app=demo k=1") {
		t.Errorf("text handler wrote:\n%s", out)
	}
}

// TestSlogtest runs the standard library's conformance checks on the
// lines as they arrive at a client.
func TestSlogtest(t *testing.T) {
	s := newServer(t, nil)
	c := s.join(t)
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		return newHandler(t, s.hub, nil)
	}, func(t *testing.T) map[string]any {
		_, line := (&client{t: t, ws: c.ws}).next() // fail the subtest

		return line
	})
}

// Room "" reaches every connection in any room of the hub, as it did
// before the hub refused the empty room name.
func TestEmptyRoomReachesEveryRoom(t *testing.T) {
	s := newServer(t, nil)
	c := s.join(t)
	h := New(s.hub, "", nil)
	t.Cleanup(func() { h.Close() })
	slog.New(h).Info("to everyone")
	if _, line := c.next(); line["msg"] != "to everyone" {
		t.Errorf("got %v", line)
	}
	if st := s.hub.Stats(); st.Refused != 0 {
		t.Errorf("hub refused %d records", st.Refused)
	}
}
