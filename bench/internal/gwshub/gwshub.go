// Package gwshub serves the benchmark protocol with github.com/lxzan/gws,
// written the way gws's own README and examples recommend:
//
//   - one gws.Upgrader per route, with an event handler (gws.Event) per
//     route; after Upgrade the handler starts socket.ReadLoop in a goroutine
//     of its own and returns, so that net/http drops its per-request state;
//   - ParallelEnabled is left off: with it gws hands each message to a new
//     goroutine (up to 8 per connection), which gives no order between the
//     messages of one connection. A broadcast server must keep its
//     publisher's order (the fanout scenario counts messages out of order),
//     and for 64-byte messages a goroutine per message costs more than it
//     can save; echo has one message outstanding per client and gains
//     nothing either. OnMessage therefore runs on the reader goroutine;
//   - no compression and no UTF-8 check (gws's defaults, and what the
//     gorilla peers do), gws's default 4 KB read buffer and its session
//     storage for per-connection state;
//   - /echo answers with socket.WriteMessage from OnMessage, as gws's echo
//     example does: a client that does not read its replies stalls its own
//     reader only (TCP back-pressure), until the deadline below;
//   - /broadcast encodes each message once with gws.NewBroadcaster and calls
//     Broadcast for every client; Broadcast queues the prepared frame on the
//     client's gws write queue (one goroutine per connection drains it while
//     it is not empty, one write system call per frame). That queue has no
//     bound, so each client counts its frames still queued (a marker job
//     queued behind each frame takes it off), and a client with queueDepth
//     of them is dropped: its socket is closed, its reader ends and OnClose
//     takes it out of the hub. The broadcaster never blocks;
//   - heartbeat as in gws's "best practice": SetDeadline (read and write)
//     on open and again on every pong; the server pings every pingPeriod
//     from a per-connection timer (no goroutine) through the write queue.
//
// The gws peer serves it; cmd/idlemem runs it in-process.
package gwshub

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

const (
	pongWait       = 60 * time.Second
	pingPeriod     = (pongWait * 9) / 10
	maxMessageSize = 64 << 10
	queueDepth     = 256 // frames queued per broadcast client at most
	sessionKey     = "client"
)

// client is the state this server keeps per connection, in its gws session.
type client struct {
	conn    *gws.Conn
	ping    *time.Timer
	closed  atomic.Bool
	pending atomic.Int32 // broadcast frames queued and not yet written
	dropped atomic.Bool
	written func() // the marker job: pending--, made once per client
	idx     int    // position in hub.clients, guarded by hub.mu
}

func newClient(conn *gws.Conn) *client {
	c := &client{conn: conn}
	c.written = func() { c.pending.Add(-1) }
	return c
}

// open sets the first deadline and starts the ping timer.
func (c *client) open() {
	_ = c.conn.SetDeadline(time.Now().Add(pongWait))
	c.ping = time.AfterFunc(pingPeriod, c.sendPing)
}

// sendPing queues a ping and re-arms the timer, until the client closes.
func (c *client) sendPing() {
	if c.closed.Load() {
		return
	}
	c.conn.WriteAsync(gws.OpcodePing, nil, nil)
	c.ping.Reset(pingPeriod)
}

// close stops the ping timer; a sendPing already running sees closed and
// does not re-arm it.
func (c *client) close() {
	c.closed.Store(true)
	if c.ping != nil {
		c.ping.Stop()
	}
}

// enqueue queues b's frame for c without blocking, dropping c when
// queueDepth frames are already queued.
func (c *client) enqueue(b *gws.Broadcaster) {
	if c.dropped.Load() {
		return
	}
	if c.pending.Add(1) > queueDepth {
		if c.dropped.CompareAndSwap(false, true) {
			// Not WriteClose: it would wait for the full socket. Closing
			// the socket ends the reader, whose OnClose leaves the hub.
			_ = c.conn.NetConn().Close()
		}
		return
	}
	if err := b.Broadcast(c.conn); err != nil {
		c.pending.Add(-1)
		return
	}
	c.conn.Async(c.written)
}

// clientOf returns the client stored in socket's session by serveWS.
func clientOf(socket *gws.Conn) *client {
	v, _ := socket.Session().Load(sessionKey)
	c, _ := v.(*client)
	return c
}

// events is what both routes do on open, close, ping and pong.
type events struct{}

// OnOpen sets the deadline and starts the pings.
func (events) OnOpen(socket *gws.Conn) { clientOf(socket).open() }

// OnClose stops the pings.
func (events) OnClose(socket *gws.Conn, _ error) { clientOf(socket).close() }

// OnPing answers with a pong.
func (events) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

// OnPong pushes the deadline back.
func (events) OnPong(socket *gws.Conn, _ []byte) {
	_ = socket.SetDeadline(time.Now().Add(pongWait))
}

// echo is /echo's event handler.
type echo struct{ events }

// OnMessage writes each text message back to its sender.
func (echo) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode == gws.OpcodeText {
		_ = socket.WriteMessage(gws.OpcodeText, msg.Bytes())
	}
}

// hub is /broadcast's event handler and its set of clients: a slice, so
// that joining and leaving are O(1) (swap-remove, each client knows its
// index) and a broadcast is a plain loop under the read lock.
type hub struct {
	events
	mu      sync.RWMutex
	clients []*client
}

// OnOpen adds the client once its reader runs.
func (h *hub) OnOpen(socket *gws.Conn) {
	c := clientOf(socket)
	c.open()
	h.mu.Lock()
	c.idx = len(h.clients)
	h.clients = append(h.clients, c)
	h.mu.Unlock()
}

// OnClose takes the client out; gws calls it once, on the reader goroutine,
// after OnOpen.
func (h *hub) OnClose(socket *gws.Conn, _ error) {
	c := clientOf(socket)
	c.close()
	h.mu.Lock()
	last := h.clients[len(h.clients)-1]
	h.clients[c.idx] = last
	last.idx = c.idx
	h.clients[len(h.clients)-1] = nil
	h.clients = h.clients[:len(h.clients)-1]
	h.mu.Unlock()
}

// OnMessage sends each text message to every client, sender included. The
// frame is built once, during the first Broadcast call, so msg's buffer may
// go back to gws's pool when this returns.
func (h *hub) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode != gws.OpcodeText {
		return
	}
	b := gws.NewBroadcaster(gws.OpcodeText, msg.Bytes())
	h.mu.RLock()
	for _, c := range h.clients {
		c.enqueue(b)
	}
	h.mu.RUnlock()
	_ = b.Close() // the frame goes back to the pool after the last write
}

// sameOrigin accepts a request without Origin or with an Origin whose host
// is the request's Host, as gorilla's default CheckOrigin does (gws checks
// no Origin by itself).
func sameOrigin(r *http.Request, _ gws.SessionStorage) bool {
	origin := r.Header["Origin"]
	if len(origin) == 0 {
		return true
	}
	u, err := url.Parse(origin[0])
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// serveWS upgrades the request, stores the connection's client in its
// session and starts its reader.
func serveWS(up *gws.Upgrader, w http.ResponseWriter, r *http.Request) {
	socket, err := up.Upgrade(w, r)
	if err != nil {
		return // gws has answered the request and closed the connection
	}
	socket.Session().Store(sessionKey, newClient(socket))
	go socket.ReadLoop()
}

// options returns the server options of both routes (a new value each
// time: gws fills in its defaults in place).
func options() *gws.ServerOption {
	return &gws.ServerOption{
		ParallelEnabled:    false,
		ReadMaxPayloadSize: maxMessageSize,
		Authorize:          sameOrigin,
	}
}

// Handler returns the /echo and /broadcast routes, each with its own
// gws.Upgrader.
func Handler() http.Handler {
	echoUp := gws.NewUpgrader(echo{}, options())
	bcastUp := gws.NewUpgrader(&hub{}, options())
	return serve.Mux(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(echoUp, w, r) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(bcastUp, w, r) }),
	)
}
