package sockets

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
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// waitTimeout bounds every wait in the tests.
const waitTimeout = testkit.Wait

// testServer is a Macaron app with one socket route at /ws, served on
// 127.0.0.1:0. finished receives once per connection whose middleware has
// returned, that is: its handler returned and its goroutines ended.
// Refused requests do not count.
type testServer struct {
	*httptest.Server
	finished chan struct{}
	errLog   *syncBuffer
}

// newTestServer routes /ws through binding to handler.
func newTestServer(t testing.TB, binding, handler macaron.Handler) *testServer {
	t.Helper()
	ts := &testServer{finished: make(chan struct{}, 100), errLog: &syncBuffer{}}
	m := macaron.New()
	m.Any("/ws", func(ctx *macaron.Context) {
		ctx.Next()
		if ctx.Resp.Status() == http.StatusSwitchingProtocols {
			ts.finished <- struct{}{}
		}
	}, binding, handler)
	ts.Server = httptest.NewUnstartedServer(m)
	ts.Config.ErrorLog = log.New(ts.errLog, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) wsURL() string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
}

// dial opens a client connection, failing the test on error.
func (ts *testServer) dial(t *testing.T, header http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := ts.tryDial(header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func (ts *testServer) tryDial(header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	return d.Dial(ts.wsURL(), header)
}

// waitFinished waits for n connections' middleware to return.
func (ts *testServer) waitFinished(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-ts.finished:
		case <-time.After(waitTimeout):
			t.Fatalf("connection %d of %d: middleware did not return within %v", i+1, n, waitTimeout)
		}
	}
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("no %s within %v", what, waitTimeout)
	}
	panic("unreachable")
}

// readClose reads until the server's close frame and returns its code.
func readClose(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("read: got %v, want a close frame", err)
	}
}

// readText reads one message, failing on anything else.
func readText(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	mt, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, string(p)
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = testkit.SyncBuffer

// quiet is Options whose logging goes nowhere.
func quiet() *Options {
	return &Options{Logger: log.New(io.Discard, "", 0)}
}

// echoStrings is a Messages handler that echoes until done.
var echoStrings = echo[string]

// echo is a handler, for any binding, that echoes until done.
func echo[T any](receiver <-chan T, sender chan<- T, done <-chan bool) {
	for {
		select {
		case m := <-receiver:
			sender <- m
		case <-done:
			return
		}
	}
}

// serveUntilDone is a handler, for any binding, that hands each message to
// onMessage (with the sender) and each error on errs to errs, until done.
func serveUntilDone[T any](errs chan<- error, onMessage func(m T, sender chan<- T)) func(<-chan T, chan<- T, <-chan bool, <-chan error) {
	return func(receiver <-chan T, sender chan<- T, done <-chan bool, e <-chan error) {
		for {
			select {
			case m := <-receiver:
				onMessage(m, sender)
			case err := <-e:
				errs <- err
			case <-done:
				return
			}
		}
	}
}

func timeIn() time.Time { return time.Now().Add(waitTimeout) }
