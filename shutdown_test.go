package sockets

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestShutdownClosesWith1001AndRefusesNewUpgrades(t *testing.T) {
	opts := quiet()
	opts.Group = &Group{}
	ts := newTestServer(t, Messages(opts), echoStrings)
	var clients []*websocket.Conn
	for i := 0; i < 3; i++ {
		clients = append(clients, ts.dial(t, nil))
	}
	waitFor(t, "3 open connections", func() bool { return opts.Group.Len() == 3 })

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
	waitFor(t, "an open connection", func() bool { return opts.Group.Len() == 1 })
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
