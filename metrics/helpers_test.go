package metrics_test

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"

	"github.com/macaron-contrib/sockets/internal/testkit"
)

// TestMain fails the run when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quietLog = log.New(io.Discard, "", 0)

// server serves m on 127.0.0.1 until the end of the test.
func server(t *testing.T, m *macaron.Macaron) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ErrorLog = quietLog
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// dial opens a WebSocket connection, closed at the end of the test.
func dial(t *testing.T, url string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testkit.Wait}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// refusedWith dials url and fails the test unless the answer is status.
func refusedWith(t *testing.T, url string, header http.Header, status int) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testkit.Wait}
	ws, resp, err := d.Dial(url, header)
	if err == nil {
		ws.Close()
		t.Fatalf("dial %s: upgraded, want %d", url, status)
	}
	if resp == nil || resp.StatusCode != status {
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d), want status %d", url, err, got, status)
	}
}

// send writes a text message, failing the test on error.
func send(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	ws.SetWriteDeadline(time.Now().Add(testkit.Wait))
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
}

// read returns the next message's payload, failing the test on error.
func read(t *testing.T, ws *websocket.Conn) []byte {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	_, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

// readClose reads until the close frame and returns its code.
func readClose(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		return ce.Code
	}
}
