package sockets

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

func TestShutdownClosesWith1001AndRefusesNewUpgrades(t *testing.T) {
	opts := quiet()
	opts.Group = &Group{}
	ts := newTestServer(t, Messages(opts), echoStrings)
	var clients []*websocket.Conn
	for i := 0; i < 3; i++ {
		clients = append(clients, ts.dial(t, nil))
	}
	testkit.Eventually(t, "3 open connections", func() bool { return opts.Group.Len() == 3 })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- opts.Group.Shutdown(ctx) }()
	for i, ws := range clients {
		if got := readClose(t, ws); got != websocket.CloseGoingAway {
			t.Errorf("client %d: close code got %d, want 1001", i, got)
		}
	}
	if err := recv(t, result, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.waitFinished(t, 3)

	_, resp, err := ts.tryDial(nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade after shutdown: got %v, want 503", err)
	}
}

func TestShutdownIsBoundedByContext(t *testing.T) {
	opts := quiet()
	opts.Group = &Group{}
	release := make(chan struct{})
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) {
		<-release // ignores done: a stubborn handler
	})
	ts.dial(t, nil)
	testkit.Eventually(t, "an open connection", func() bool { return opts.Group.Len() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := opts.Group.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a stubborn handler: got %v, want DeadlineExceeded", err)
	}
	close(release)
	ts.waitFinished(t, 1)
}

func TestShutdownWithNothingOpen(t *testing.T) {
	g := &Group{}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Errorf("got %v", err)
	}
}

// slowHijacker holds the upgrade inside Hijack until released.
type slowHijacker struct {
	macaron.ResponseWriter
	entered chan struct{}
	release chan struct{}
}

func (s *slowHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	close(s.entered)
	<-s.release
	return s.ResponseWriter.(http.Hijacker).Hijack()
}

// A Shutdown that begins while a request is being upgraded waits for that
// connection too: its handler runs, is told to go, and returns before
// Shutdown does.
func TestShutdownWaitsForAnUpgradeInProgress(t *testing.T) {
	opts := quiet()
	opts.Group = &Group{}
	slow := &slowHijacker{entered: make(chan struct{}), release: make(chan struct{})}
	var handlerReturned atomic.Bool
	m := macaron.New()
	m.Get("/ws", func(ctx *macaron.Context) {
		slow.ResponseWriter = ctx.Resp
		ctx.Resp = slow
		ctx.MapTo(slow, (*http.ResponseWriter)(nil))
	}, Messages(opts), func(done <-chan bool) {
		<-done
		handlerReturned.Store(true)
	})
	srv := httptest.NewServer(m)
	defer srv.Close()
	release := sync.OnceFunc(func() { close(slow.release) })
	defer release() // before the server closes, even when failing
	dialed := make(chan error, 1)
	go func() {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
		if err == nil {
			ws.SetReadDeadline(timeIn())
			_, _, err = ws.ReadMessage() // the 1001
			ws.Close()
		}
		dialed <- err
	}()
	<-slow.entered
	shutdownDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		shutdownDone <- opts.Group.Shutdown(ctx)
	}()
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned (%v) while an upgrade was in progress", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	if err := recv(t, shutdownDone, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !handlerReturned.Load() {
		t.Error("Shutdown returned before the handler of the upgrade in progress")
	}
	if err := recv(t, dialed, "the client's end"); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("client: got %v, want close 1001", err)
	}
}
