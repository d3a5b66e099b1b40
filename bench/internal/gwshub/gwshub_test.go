package gwshub

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

func (h *hub) len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func dial(t *testing.T, url string, h http.Header) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// TestSlowClientDropped: a broadcast client that reads nothing is dropped
// once its queue is full, while the publisher gets every message.
func TestSlowClientDropped(t *testing.T) {
	h := &hub{}
	up := gws.NewUpgrader(h, options())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(up, w, r) }))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	slow := dial(t, url, nil)
	// A small receive buffer, so that the server's socket fills quickly.
	if err := slow.NetConn().(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, url, nil)
	waitFor(t, "two clients", func() bool { return h.len() == 2 })

	const n = 1000 // 60 MB: far more than the socket buffers and 256 queued frames
	msg := strings.Repeat("x", 60<<10)
	got := make(chan error, 1)
	// At most 64 of the publisher's messages are on their way back to it,
	// so that its own queue (256) never fills, however slowly its reader
	// is scheduled on a busy machine.
	window := make(chan struct{}, 64)
	go func() {
		for i := 0; i < n; i++ {
			if _, b, err := pub.ReadMessage(); err != nil || len(b) != len(msg) {
				got <- err
				return
			}
			<-window
		}
		got <- nil
	}()
	for i := 0; i < n; i++ {
		select {
		case window <- struct{}{}:
		case err := <-got:
			t.Fatalf("publisher's copies, after %d written: %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatalf("publisher's copies stopped coming after %d written", i)
		}
		if err := pub.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("publisher's copies: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("publisher did not get its copies")
	}
	waitFor(t, "the slow client to leave", func() bool { return h.len() == 1 })
	h.mu.RLock()
	c := h.clients[0]
	h.mu.RUnlock()
	waitFor(t, "the publisher's queue to drain", func() bool { return c.pending.Load() == 0 })
}

// TestOrigin: no Origin and a same-host Origin are accepted, another is not.
func TestOrigin(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	dial(t, url+"/echo", nil)
	ws := dial(t, url+"/broadcast", http.Header{"Origin": {srv.URL}})
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "hi" {
		t.Fatalf("broadcast to self: %q, %v", b, err)
	}
	_, resp, err := websocket.DefaultDialer.Dial(url+"/echo", http.Header{"Origin": {"http://elsewhere.example"}})
	if err == nil {
		t.Fatal("a foreign Origin was accepted")
	}
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("foreign Origin: %v, response %v", err, resp)
	}
}
