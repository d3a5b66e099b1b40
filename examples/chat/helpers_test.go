package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// testServer is the chat app served on 127.0.0.1:0.
type testServer struct {
	*httptest.Server
	app *app
	log *syncBuffer
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	// The tests send faster than people: no rate limit but where a test
	// sets one.
	return serveApp(t, config{Logger: log.New(logs, "", log.Lmicroseconds), MessageRate: -1, DataDir: t.TempDir()}, logs, "server")
}

// serveApp serves a new app of cfg, which logs to logs. At the end of the
// test it stops both and, if the test failed, shows logs headed
// "<title> log:".
func serveApp(t *testing.T, cfg config, logs *syncBuffer, title string) *testServer {
	t.Helper()
	cfg.RoomsMaxAge = cmp.Or(cfg.RoomsMaxAge, -1) // the tests look at the lobby right after a change
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: httptest.NewServer(a.Handler()), app: a, log: logs}
	t.Cleanup(func() {
		ts.Close()
		a.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", title, logs.String())
		}
	})
	return ts
}

func (ts *testServer) socketURL(room, name string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/sockets/rooms/" + url.PathEscape(room) + "/" + url.PathEscape(name)
}

// dial opens a socket to room as name, as testkit.Dial does.
func (ts *testServer) dial(room, name string) (*websocket.Conn, int, string, error) {
	return testkit.Dial(ts.socketURL(room, name))
}

// client is a test's end of one socket.
type client struct {
	name    string
	ws      *websocket.Conn
	pending []Message // frames read ahead by awaitEntered
	history []Message // the history frames received on joining
	members []string  // the members frame received on joining
	pos     string    // the position of the last message read
	resets  []Message // "cannot resume" frames received on joining
}

// join connects name to room and reads what a joiner gets first: the
// history frames, then the members frame. It returns once the server has
// made the client a member (see awaitEntered).
func (ts *testServer) join(t *testing.T, room, name string) *client {
	t.Helper()
	c, err := ts.tryJoin(room, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// joinSince is join for a client that comes back since pos: it reads the
// members frame, and the history too when the server cannot resume (a
// reset).
func (ts *testServer) joinSince(t *testing.T, room, name, pos string) *client {
	t.Helper()
	c, err := ts.tryJoinSince(room, name, pos)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// tryJoin is join for any goroutine: it returns errors instead of failing.
func (ts *testServer) tryJoin(room, name string) (*client, error) {
	return ts.tryJoinSince(room, name, "")
}

func (ts *testServer) tryJoinSince(room, name, since string) (*client, error) {
	u := ts.socketURL(room, name)
	if since != "" {
		u += "?since=" + url.QueryEscape(since)
	}
	ws, status, body, err := testkit.Dial(u)
	if err != nil {
		return nil, fmt.Errorf("%s joining %q: %v (status %d: %q)", name, room, err, status, body)
	}
	c := &client{name: name, ws: ws}
	for {
		m, err := c.read()
		if err != nil {
			c.close()
			return nil, fmt.Errorf("%s joining %q: %v", name, room, err)
		}
		if m.Typ == typHistory {
			c.history = append(c.history, m)
			continue
		}
		if m.Typ == typError && m.Error == "reload" {
			c.resets = append(c.resets, m)
			continue
		}
		if m.Typ == typMessage && since != "" { // what it missed: for next
			c.pending = append(c.pending, m)
			continue
		}
		if m.Typ != typMembers {
			c.close()
			return nil, fmt.Errorf("%s joining %q: got %+v before the members frame", name, room, m)
		}
		if err := json.Unmarshal([]byte(m.Text), &c.members); err != nil {
			c.close()
			return nil, fmt.Errorf("%s joining %q: members frame %q: %v", name, room, m.Text, err)
		}
		break
	}
	if err := c.awaitEntered(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// probeTyp is a frame type the server does not know: it answers it with an
// error frame, to this client only.
const probeTyp = "probe-for-tests"

// awaitEntered returns once the server has entered the client in its room.
// The server's handler reads the client's frames only after that, so the
// error frame answering a probe proves it; frames that arrive meanwhile are
// kept, in order, for next.
func (c *client) awaitEntered() error {
	if err := c.sendFrame(Message{Typ: probeTyp}); err != nil {
		return err
	}
	var ahead []Message
	for {
		m, err := c.read()
		if err != nil {
			return fmt.Errorf("%s awaiting entry: %v", c.name, err)
		}
		if m.Typ == typError && strings.Contains(m.Text, probeTyp) {
			c.pending = append(c.pending, ahead...)
			return nil
		}
		ahead = append(ahead, m)
	}
}

func (c *client) close() { c.ws.Close() }

// leave closes the connection cleanly, as a browser leaving the page does.
func (c *client) leave() {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(testkit.Wait))
	c.ws.Close()
}

func (c *client) sendFrame(m Message) error {
	c.ws.SetWriteDeadline(time.Now().Add(testkit.Wait))
	return c.ws.WriteJSON(m)
}

func (c *client) say(t *testing.T, text string) {
	t.Helper()
	if err := c.sendFrame(Message{Typ: typMessage, Text: text}); err != nil {
		t.Fatalf("%s saying %.20q: %v", c.name, text, err)
	}
}

// next returns the next frame, waiting at most testkit.Wait.
func (c *client) next() (Message, error) {
	if len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		return m, nil
	}
	return c.read()
}

func (c *client) read() (Message, error) {
	var m Message
	c.ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return m, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("frame %q: %v", data, err)
	}
	// Messages carry their position, which the client would resume
	// from; it is kept aside, so that frames compare by what they say.
	if m.Typ == typMessage || m.Typ == typHistory {
		if _, err := sockets.ParsePosition(m.Pos); err != nil || m.Pos == "" {
			return m, fmt.Errorf("frame %q: no valid position", data)
		}
		c.pos, m.Pos = m.Pos, ""
	} else if m.Pos != "" {
		return m, fmt.Errorf("frame %q: a position on a %s frame", data, m.Typ)
	}
	return m, nil
}

func (c *client) mustNext(t *testing.T) Message {
	t.Helper()
	m, err := c.next()
	if err != nil {
		t.Fatalf("%s: reading the next frame: %v", c.name, err)
	}
	return m
}

// expect fails unless the next frame is want.
func (c *client) expect(t *testing.T, want Message) {
	t.Helper()
	if got := c.mustNext(t); got != want {
		t.Fatalf("%s got %+v, want %+v", c.name, got, want)
	}
}

// closed reads until the connection ends and returns why.
func (c *client) closed() error {
	for {
		if _, err := c.next(); err != nil {
			return err
		}
	}
}

func msg(from, text string) Message    { return Message{Typ: typMessage, From: from, Text: text} }
func status(from, text string) Message { return Message{Typ: typStatus, From: from, Text: text} }

// get fetches a page, not following redirects, and returns the response
// and its body.
func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{
		Timeout:       testkit.Wait,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return testkit.Get(t, client, u)
}

// dialAtOnce dials n connections as name into room at the same moment,
// round-robin over servers. It returns how many were upgraded, and each
// one's status; any status but 101 or 409 fails the test. The upgraded
// connections are closed at the end of the test.
func dialAtOnce(t *testing.T, servers []*testServer, room, name string, n int) (int, []int) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make([]int, n)
	conns := make([]*websocket.Conn, n)
	for i := range statuses {
		ts := servers[i%len(servers)]
		wg.Go(func() {
			<-start
			conns[i], statuses[i], _, _ = ts.dial(room, name)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch s {
		case http.StatusSwitchingProtocols:
			won++
			t.Cleanup(func() { conns[i].Close() })
		case http.StatusConflict:
		default:
			t.Errorf("status %d", s)
		}
	}
	return won, statuses
}

// awaitNameFree waits until name can join room on ts again, a 409 meaning
// "not yet".
func awaitNameFree(t *testing.T, ts *testServer, room, name, what string) {
	t.Helper()
	testkit.EventuallyNoError(t, what, func() error {
		ws, status, body, err := ts.dial(room, name)
		if err != nil {
			if status != http.StatusConflict {
				t.Fatalf("got %d %q, want 409 or success", status, body)
			}
			return err
		}
		ws.Close()
		return nil
	})
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = testkit.SyncBuffer
