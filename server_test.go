package sockets

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// NewServer sets the limits its documentation promises.
func TestNewServerHasLimits(t *testing.T) {
	srv := NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second ||
		srv.WriteTimeout != 30*time.Second || srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 64<<10 {
		t.Fatalf("got %+v, want the documented limits", srv)
	}
}

// Serve serves until its context is done, then closes the group's sockets
// with 1001 and returns nil once everything stopped.
func TestServeShutsDownSocketsThenServer(t *testing.T) {
	g := &Group{}
	m := macaron.New()
	m.Get("/ws", Messages(&Options{Group: g, Logger: quiet().Logger}), func(receiver <-chan string, done <-chan bool) { <-done })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NewServer(m), ln, g, waitTimeout) }()

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	cancel()
	if code := readClose(t, ws); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v, want nil after a shutdown", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after its context was done")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("the listener still answers after Serve returned")
	}
}

// Serve reports a listener that fails.
func TestServeReportsServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(context.Background(), NewServer(http.NotFoundHandler()), ln, nil, time.Second); err == nil {
		t.Fatal("Serve on a closed listener: nil error")
	}
}
