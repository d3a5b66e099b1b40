package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"go.uber.org/goleak"
)

// TestMain fails the run when the tests leave goroutines behind: followers,
// socket handlers and the log publisher must all end.
func TestMain(m *testing.M) {
	if os.Getenv("LOGSTREAM_RUN_MAIN") == "1" { // the test binary as the command
		os.Args = []string{"logstream", "-addr", "127.0.0.1:0"}
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testServer is the app on 127.0.0.1:0 with its own sockets group.
type testServer struct {
	*httptest.Server
	app      *app
	log      *syncBuffer
	t        *testing.T
	stopOnce sync.Once
}

// newTestServer starts the app on files (created empty when missing).
func newTestServer(t *testing.T, files ...string) *testServer {
	t.Helper()
	return newTestServerWith(t, config{Files: files})
}

func newTestServerWith(t *testing.T, cfg config) *testServer {
	t.Helper()
	return startTestServer(t, cfg, nil)
}

// startTestServer starts the app on ln (nil: 127.0.0.1:0); it stops with
// the test, or before with stop.
func startTestServer(t *testing.T, cfg config, ln net.Listener) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg.LogOutput = logs
	cfg.Group = &sockets.Group{}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond // besides fsnotify
	}
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	ts := &testServer{Server: srv, app: a, log: logs, t: t}
	t.Cleanup(ts.stop)
	return ts
}

// stop closes the app's sockets (1001), the server and the followers, once.
func (ts *testServer) stop() {
	ts.stopOnce.Do(func() {
		t := ts.t
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		if err := ts.app.Shutdown(ctx); err != nil {
			t.Errorf("shutting the sockets down: %v", err)
		}
		ts.Close()
		ts.app.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", ts.log.String())
		}
	})
}

// logFile returns the path of a new empty file in a test directory.
func logFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// appendLines appends each line plus "\n" to path and returns their
// offsets.
func appendLines(t *testing.T, path string, lines ...string) []int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	off := fi.Size()
	var b strings.Builder
	offsets := make([]int64, len(lines))
	for i, l := range lines {
		offsets[i] = off
		b.WriteString(l)
		b.WriteByte('\n')
		off += int64(len(l)) + 1
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	return offsets
}

func (ts *testServer) wsURL(path string, q url.Values) string {
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// tryDial opens a socket at path with the query q, as testkit.Dial does.
func (ts *testServer) tryDial(path string, q url.Values) (*websocket.Conn, int, string, error) {
	return testkit.Dial(ts.wsURL(path, q))
}

// stream opens a stream socket with the query q, failing the test when
// refused.
func (ts *testServer) stream(t *testing.T, q url.Values) *client {
	t.Helper()
	return ts.dial(t, "/api/logs/stream", q)
}

func (ts *testServer) dial(t *testing.T, path string, q url.Values) *client {
	t.Helper()
	ws, status, body, err := ts.tryDial(path, q)
	if err != nil {
		t.Fatalf("dialing %s?%s: %v (status %d: %q)", path, q.Encode(), err, status, body)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

// refused checks that a stream request is answered status, with a body
// containing want, before any upgrade.
func (ts *testServer) refused(t *testing.T, q url.Values, status int, want string) {
	t.Helper()
	ws, got, body, err := ts.tryDial("/api/logs/stream", q)
	if err == nil {
		ws.Close()
		t.Fatalf("%s: upgraded, want %d", q.Encode(), status)
	}
	if got != status || !strings.Contains(body, want) {
		t.Errorf("%s: got %d %q, want %d with %q", q.Encode(), got, body, status, want)
	}
	// The same answer to a plain GET, in plain text.
	resp, body := get(t, ts.URL+"/api/logs/stream?"+q.Encode())
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != status || ct != "text/plain; charset=utf-8" || !strings.Contains(body, want) {
		t.Errorf("plain GET ?%s: %d %s %q", q.Encode(), resp.StatusCode, ct, body)
	}
}

// frame is any frame from the server.
type frame struct {
	File    string            `json:"file"`
	Gen     string            `json:"gen"`
	Offset  int64             `json:"offset"`
	Line    string            `json:"line"`
	Level   string            `json:"level"`
	Time    string            `json:"time"`
	At      int64             `json:"at"`
	Rotated bool              `json:"rotated"`
	Error   string            `json:"error"`
	Filter  *filterState      `json:"filter"`
	Skipped uint64            `json:"skipped"`
	Msg     string            `json:"msg"`
	Fields  map[string]string `json:"fields"`
	raw     string
}

func (f frame) isLine() bool { return f.File != "" }

// pos is the line's position as since= names it.
func (f frame) pos() string { return fmt.Sprintf("%s:%d", f.Gen, f.Offset) }

// client is a test's end of one socket.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

// next returns the next frame, waiting at most testkit.Wait.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("reading the next frame: %v", err)
	}
	return f
}

func (c *client) read() (frame, error) {
	var f frame
	c.ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return f, err
	}
	if mt != websocket.TextMessage {
		return f, fmt.Errorf("frame of type %d, want text", mt)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("frame %q: %v", data, err)
	}
	f.raw = string(data)
	return f, nil
}

// line returns the next frame, failing unless it is a line.
func (c *client) line() frame {
	c.t.Helper()
	f := c.next()
	if !f.isLine() {
		c.t.Fatalf("got %s, want a line", f.raw)
	}
	return f
}

// expect checks that the next frames are lines with these texts.
func (c *client) expect(texts ...string) []frame {
	c.t.Helper()
	var got []frame
	for _, want := range texts {
		f := c.line()
		if f.Line != want {
			c.t.Fatalf("got line %q (%s), want %q", f.Line, f.raw, want)
		}
		got = append(got, f)
	}
	return got
}

// send sends a text frame.
func (c *client) send(s string) {
	c.t.Helper()
	c.ws.SetWriteDeadline(time.Now().Add(testkit.Wait))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("sending %q: %v", s, err)
	}
}

// closed reads until the connection ends and returns why.
func (c *client) closed() error {
	for {
		if _, err := c.read(); err != nil {
			return err
		}
	}
}

// waitLive waits until n clients of the file are live (in a group).
func (ts *testServer) waitLive(t *testing.T, file string, n int) {
	t.Helper()
	s := ts.app.streams[file]
	testkit.Eventually(t, fmt.Sprintf("%d live clients of %s", n, file), func() bool {
		subs, _ := s.live()
		return subs == n
	})
}

// waitRing waits until the follower of file has read n lines in all.
func (ts *testServer) waitRing(t *testing.T, file string, n uint64) {
	t.Helper()
	s := ts.app.streams[file]
	testkit.Eventually(t, fmt.Sprintf("%d lines read from %s", n, file), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ring.next >= n
	})
}

// get fetches a URL and returns the response and its body.
func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	return testkit.Get(t, &http.Client{Timeout: testkit.Wait}, u)
}

func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = testkit.SyncBuffer
