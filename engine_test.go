package sockets

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// goroutinesIn counts live goroutines whose stack contains fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			n++
		}
	}
	return n
}

func TestThreeGoroutinesPerConnection(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), echoStrings)
	const conns = 3
	var clients []*websocket.Conn
	for i := 0; i < conns; i++ {
		ws := ts.dial(t, nil)
		ws.WriteMessage(websocket.TextMessage, []byte("up"))
		readText(t, ws) // all goroutines have started
		clients = append(clients, ws)
	}
	for _, fn := range []string{").read(", ").write(", ").closer("} {
		if got := goroutinesIn("sockets." + fnPrefix(fn)); got != conns {
			t.Errorf("goroutines in %s: got %d, want %d (one per connection)", fn, got, conns)
		}
	}
	for _, ws := range clients {
		ws.Close()
	}
	ts.waitFinished(t, conns)
	for _, fn := range []string{").read(", ").write(", ").closer("} {
		if got := goroutinesIn("sockets." + fnPrefix(fn)); got != 0 {
			t.Errorf("goroutines in %s after close: got %d, want 0", fn, got)
		}
	}
}

func fnPrefix(fn string) string {
	switch fn {
	case ").read(":
		return "(*pump[...]).read("
	case ").write(":
		return "(*pump[...]).write("
	}
	return "(*Conn).closer("
}

// The pong handler runs in the reader: it must not touch write deadlines
// (the package we replace set one there, a second writer).
func TestPongsDoNotTouchWriteDeadlines(t *testing.T) {
	conns := make(chan *Conn, 1)
	ts := newTestServer(t, Messages(quiet()), func(c *Conn, receiver <-chan string, done <-chan bool) {
		conns <- c
		<-receiver
		<-done
	})
	ws := ts.dial(t, nil)
	c := recv(t, conns, "conn")
	// The writer has written nothing, so it has applied no write deadline:
	// what the test reads here is not being written.
	before := c.net.writeDeadline.at
	for i := 0; i < 50; i++ {
		ws.WriteControl(websocket.PongMessage, []byte("p"), timeIn())
	}
	ws.WriteMessage(websocket.TextMessage, []byte("after the pongs"))
	// The handler got the message, so the reader has handled every pong.
	if after := c.net.writeDeadline.at; !after.Equal(before) {
		t.Errorf("write deadline changed while only pongs arrived: %v, then %v", before, after)
	}
}

func TestOnePingPerPeriod(t *testing.T) {
	opts := quiet()
	opts.PingPeriod = 50 * time.Millisecond
	opts.PongWait = 5 * time.Second
	ts := newTestServer(t, Messages(opts), echoStrings)
	ws := ts.dial(t, nil)
	var pings atomic.Int32
	ws.SetPingHandler(func(string) error { pings.Add(1); return nil })
	const window = 600 * time.Millisecond
	start := time.Now()
	ws.SetReadDeadline(start.Add(window))
	ws.ReadMessage() // times out after window, handling pings meanwhile
	elapsed := time.Since(start)
	got := int(pings.Load())
	max := int(elapsed/opts.PingPeriod) + 2
	if got < 2 || got > max {
		t.Errorf("pings in %v with PingPeriod %v: got %d, want 2..%d", elapsed, opts.PingPeriod, got, max)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

// A handler that keeps sending after the client vanished is released: the
// writer discards until the handler returns.
func TestHandlerBlockedOnSenderIsReleased(t *testing.T) {
	returned := make(chan int, 1)
	started := make(chan struct{})
	opts := quiet()
	opts.SendChannelBuffer = -1 // unbuffered: every send needs the writer
	ts := newTestServer(t, Messages(opts), func(sender chan<- string) {
		close(started)
		n := 0
		for ; n < 10000; n++ {
			sender <- strings.Repeat("x", 1000)
		}
		returned <- n
	})
	ws := ts.dial(t, nil)
	<-started
	ws.NetConn().Close()
	if n := recv(t, returned, "handler return"); n != 10000 {
		t.Errorf("handler sent %d, want 10000", n)
	}
	ts.waitFinished(t, 1)
}

// A handler that stops reading the receiver must not leave the reader
// blocked once the connection is gone.
func TestReaderBlockedOnReceiverIsReleased(t *testing.T) {
	opts := quiet()
	opts.RecvChannelBuffer = 1
	// The stalled reader cannot see the client go; the writer's next
	// failing ping does.
	opts.PingPeriod = 50 * time.Millisecond
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) {
		<-done // never reads the receiver
	})
	ws := ts.dial(t, nil)
	for i := 0; i < 20; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte("unread"))
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

// A late send on disconnect, after the connection is gone, does not block.
func TestLateDisconnectDoesNotBlock(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), func(done <-chan bool, disconnect chan<- int) {
		<-done
		disconnect <- 1000
		disconnect <- 1000
		disconnect <- 1000
	})
	ws := ts.dial(t, nil)
	ws.Close()
	ts.waitFinished(t, 1)
}

// An idle connection holds no buffer it is not using: the HTTP server's
// 4 KiB read and write buffers are let go after the handshake, gorilla
// keeps a small reader and borrows write buffers from a pool.
func TestIdleConnectionHoldsNoServerBuffers(t *testing.T) {
	opts, err := prepareOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := newUpgrader(opts); u.ReadBufferSize > 256 || u.WriteBufferPool == nil {
		t.Errorf("upgrader: read buffer %d, write pool %v; want at most 256 and a pool", u.ReadBufferSize, u.WriteBufferPool != nil)
	}

	hijacked := make(chan *bufio.ReadWriter, 1)
	served := make(chan struct{})
	m := macaron.New()
	m.Get("/ws", Messages(quiet()), func(done <-chan bool) {
		close(served)
		<-done
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.ServeHTTP(&recordingHijacker{ResponseWriter: w, brw: hijacked}, r)
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	brw := recv(t, hijacked, "the hijack")
	recv(t, served, "the handler")
	if brw.Reader.Size() != 0 || brw.Writer.Size() != 0 {
		t.Errorf("the HTTP server's buffers are held: reader %d, writer %d bytes", brw.Reader.Size(), brw.Writer.Size())
	}
}

// recordingHijacker passes on what Hijack returns, and sends the buffers.
type recordingHijacker struct {
	http.ResponseWriter
	brw chan *bufio.ReadWriter
}

func (h *recordingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		h.brw <- brw
	}
	return c, brw, err
}
