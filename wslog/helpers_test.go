package wslog

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// room is the hub room the tests publish to.
const room = "self"

// server serves /ws: each socket joins room and stays until it closes.
type server struct {
	*httptest.Server
	hub *sockets.Hub
}

func newServer(t *testing.T, hubOpts *sockets.HubOptions) *server {
	t.Helper()
	hub, err := sockets.NewHub(hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	group := &sockets.Group{}
	m := macaron.New()
	m.Get("/ws", sockets.Messages(&sockets.Options{Group: group, SkipLogging: true, HubQueueSize: 4096}),
		func(c *sockets.Conn, done <-chan bool) {
			hub.Join(room, c)
			<-done
		})
	s := &server{Server: httptest.NewServer(m), hub: hub}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		if err := group.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		s.Close()
		hub.Close()
	})
	return s
}

// join connects a client to room and returns once the hub counts it.
func (s *server) join(t *testing.T) *client {
	t.Helper()
	want := s.hub.Count(room) + 1
	ws, _, _, err := testkit.Dial("ws" + strings.TrimPrefix(s.URL, "http") + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	testkit.Eventually(t, "client in the room", func() bool { return s.hub.Count(room) >= want })
	return &client{t: t, ws: ws}
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

// next reads the next frame as a Record, with its line decoded too.
func (c *client) next() (Record, map[string]any) {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	if mt != websocket.TextMessage {
		c.t.Fatalf("frame type %d, want text", mt)
	}
	var rec Record
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(rec.Line), &line); err != nil {
		c.t.Fatalf("line %q is not a JSON object: %v", rec.Line, err)
	}
	return rec, line
}

// blockingBroker holds every Publish until release is closed, so that the
// handler's goroutine stalls as a slow consumer would.
type blockingBroker struct {
	release chan struct{}
	entered chan struct{} // receives once per Publish call
}

func newBlockingBroker() *blockingBroker {
	return &blockingBroker{release: make(chan struct{}), entered: make(chan struct{}, 1<<16)}
}

func (b *blockingBroker) Attach(func(sockets.Envelope)) error { return nil }
func (b *blockingBroker) Publish(sockets.Envelope) error {
	b.entered <- struct{}{}
	<-b.release
	return nil
}
func (b *blockingBroker) Subscribe(string) error   { return nil }
func (b *blockingBroker) Unsubscribe(string) error { return nil }
func (b *blockingBroker) Close() error             { return nil }
