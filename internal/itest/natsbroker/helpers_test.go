package natsbroker_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsbroker"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"
)

// TestMain fails the run when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quietLog = log.New(io.Discard, "", 0)

// fastReconnect makes a client notice a restarted server quickly.
var fastReconnect = []nats.Option{
	nats.MaxReconnects(-1),
	nats.ReconnectWait(20 * time.Millisecond),
	nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
}

// connectBroker is Connect, closed at the end of the test.
func connectBroker(t *testing.T, url string, opts natsbroker.Options) *natsbroker.Broker {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = log.New(io.Discard, "", 0)
	}
	opts.NATSOptions = append(append([]nats.Option(nil), fastReconnect...), opts.NATSOptions...)
	b, err := natsbroker.Connect(url, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dialNATS is a plain client connection, closed at the end of the test.
func dialNATS(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append(append([]nats.Option(nil), fastReconnect...), opts...)...)
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newBrokerOn is New over a connection of its own (shared-style: echo on),
// both closed at the end of the test.
func newBrokerOn(t *testing.T, url string, opts natsbroker.Options) (*natsbroker.Broker, *nats.Conn) {
	t.Helper()
	nc := dialNATS(t, url)
	if opts.Logger == nil {
		opts.Logger = log.New(io.Discard, "", 0)
	}
	b, err := natsbroker.New(nc, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, nc
}

// instance is one server: a Hub over a broker, and a Macaron app whose
// /ws/:room joins the room and publishes what each client sends to it.
type instance struct {
	name   string
	hub    *sockets.Hub
	broker *natsbroker.Broker
	srv    *httptest.Server
}

func newInstance(t *testing.T, name string, b *natsbroker.Broker) *instance {
	t.Helper()
	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: b, SlowClientPolicy: sockets.DropMessage})
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	t.Cleanup(func() { hub.Close() })
	group := &sockets.Group{}
	opts := &sockets.Options{Logger: log.New(io.Discard, "", 0), SkipLogging: true, Group: group}
	m := macaron.New()
	m.Get("/ws/:room", sockets.Messages(opts), func(ctx *macaron.Context, c *sockets.Conn,
		receiver <-chan string, done <-chan bool) {
		room := ctx.Params("room")
		hub.Join(room, c)
		for {
			select {
			case msg := <-receiver:
				hub.Publish(room, websocket.TextMessage, []byte(msg)) // an error: only the broker failed
			case <-done:
				return
			}
		}
	})
	srv := httptest.NewServer(m)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		if err := group.Shutdown(ctx); err != nil {
			t.Errorf("instance %s: %v", name, err)
		}
		srv.Close()
	})
	return &instance{name: name, hub: hub, broker: b, srv: srv}
}

// client is a WebSocket client in one room of an instance.
type client struct {
	name string
	ws   *websocket.Conn
	in   chan string   // messages read
	gone chan struct{} // closed when the reader has returned
}

// dial connects a client to room on inst and waits until the hub has it.
func (inst *instance) dial(t *testing.T, name, room string) *client {
	t.Helper()
	before := inst.hub.Count(room)
	u := "ws" + strings.TrimPrefix(inst.srv.URL, "http") + "/ws/" + url.PathEscape(room)
	ws, _, _, err := testkit.Dial(u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	c := &client{name: name, ws: ws, in: make(chan string, 1024), gone: make(chan struct{})}
	go func() {
		defer close(c.gone)
		for {
			_, p, err := ws.ReadMessage()
			if err != nil {
				return
			}
			c.in <- string(p)
		}
	}()
	t.Cleanup(c.close)
	testkit.Eventually(t, name+" joined "+room, func() bool { return inst.hub.Count(room) > before })
	return c
}

// close closes the connection and waits for the reader.
func (c *client) close() {
	c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.ws.Close()
	select {
	case <-c.gone:
	case <-time.After(testkit.Wait):
	}
}

func (c *client) send(t *testing.T, msg string) {
	t.Helper()
	c.ws.SetWriteDeadline(time.Now().Add(testkit.Wait))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("%s: send %q: %v", c.name, msg, err)
	}
}

// next returns the next message, failing after testkit.Wait.
func (c *client) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-time.After(testkit.Wait):
		t.Fatalf("%s: no message within %v", c.name, testkit.Wait)
	}
	return ""
}

// within returns the next message if one comes within d.
func (c *client) within(d time.Duration) (string, bool) {
	select {
	case m := <-c.in:
		return m, true
	case <-time.After(d):
		return "", false
	}
}

// expect fails unless the next message is want.
func (c *client) expect(t *testing.T, want string) {
	t.Helper()
	if got := c.next(t); got != want {
		t.Fatalf("%s: got %q, want %q", c.name, got, want)
	}
}

// recorder is a hub stand-in: it records what a broker delivers.
type recorder struct {
	mu   sync.Mutex
	envs []sockets.Envelope
}

func (r *recorder) deliver(env sockets.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	env.Data = append([]byte(nil), env.Data...)
	r.envs = append(r.envs, env)
}

func (r *recorder) got() []sockets.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sockets.Envelope(nil), r.envs...)
}

// attach attaches a recorder to b and subscribes to every room.
func attach(t *testing.T, b *natsbroker.Broker) *recorder {
	t.Helper()
	r := &recorder{}
	if err := b.Attach(r.deliver); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if err := b.Subscribe(""); err != nil {
		t.Fatalf("Subscribe(\"\"): %v", err)
	}
	return r
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = testkit.SyncBuffer
