package sockets

import (
	"context"
	"fmt"
	"io"
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

// The attack NewServer's limits answer, re-tried with its times scaled
// down (TestNewServerHasLimits checks the real ones): a slowloris client,
// sending a header line now and then and never ending its headers, is cut
// off at ReadHeaderTimeout; a socket, upgraded on the same server, lives
// and echoes past ReadTimeout, WriteTimeout and IdleTimeout many times
// over, idle or busy, since the upgrade leaves the deadlines to the
// socket (PongWait, WriteWait).
func TestNewServerCutsSlowlorisButNotSockets(t *testing.T) {
	const scale = 200 * time.Millisecond
	g := &Group{}
	m := macaron.New()
	m.Get("/ws", Messages(&Options{Group: g, Logger: quiet().Logger}), echoStrings)
	srv := NewServer(m)
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = scale, scale, scale, scale
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, ln, g, waitTimeout) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		slow.SetReadDeadline(time.Now().Add(waitTimeout))
		io.Copy(io.Discard, slow) // until the server closes it
		cut <- time.Since(start)
	}()
	fmt.Fprintf(slow, "GET /ws HTTP/1.1\r\nHost: %s\r\n", ln.Addr())
	// A header line every scale/4, for 5 times ReadHeaderTimeout, unless
	// the server closed the connection first.
	sending := time.NewTicker(scale / 4)
	defer sending.Stop()
	var took time.Duration
slowloris:
	for i := 0; ; i++ {
		select {
		case took = <-cut:
			break slowloris
		case <-sending.C:
			if time.Since(start) < 5*scale {
				fmt.Fprintf(slow, "X-Slow-%d: 1\r\n", i)
			}
		}
	}
	if took >= waitTimeout {
		t.Errorf("the slowloris client was still connected after %v", took)
	}

	// The socket, opened before the slowloris attempt, has lived through
	// it: past every timeout of the server, idle, then busy.
	deadline := time.Now().Add(5 * scale)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("write %d, %v after the upgrade: %v", i, time.Since(start), err)
		}
		if _, got := readText(t, ws); got != fmt.Sprint(i) {
			t.Fatalf("echo %d: got %q", i, got)
		}
		time.Sleep(scale / 10)
	}
}
