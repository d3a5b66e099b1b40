// Command gorillabatched is the benchmark's practical limit for a raw
// gorilla/websocket server: each broadcast is encoded once as a
// websocket.PreparedMessage and queued (non-blocking) on every client's
// bounded queue; a client's writer drains its queue without waiting, writes
// all frames into a pooled buffer and flushes once when the queue runs empty,
// so a burst of messages costs one write syscall and one write deadline. A
// client whose queue is full is dropped; the broadcaster never blocks.
//
//	gorillabatched -addr 127.0.0.1:0
package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = (pongWait * 9) / 10
	maxMessageSize = 64 << 10
	queueDepth     = 256
	maxBurst       = 256 // frames per flush at most
)

// upgrader lends write buffers from a pool, so idle connections hold none.
var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	WriteBufferPool: &sync.Pool{},
}

// client is one connection with its bounded queue: prepared messages on
// /broadcast, raw payloads on /echo (preparing a message costs a scratch
// connection and buffer, which only pays off when it is written many times).
type client struct {
	ws    *websocket.Conn
	bc    *burstConn
	queue chan *websocket.PreparedMessage // nil on /echo
	echo  chan []byte                     // nil on /broadcast
	quit  chan struct{}
	once  sync.Once
	idx   int // position in hub.clients, guarded by hub.mu
}

// kill asks the writer to close the connection; safe from any goroutine.
func (c *client) kill() { c.once.Do(func() { close(c.quit) }) }

// enqueue queues pm without blocking, dropping the client when its queue is
// full.
func (c *client) enqueue(pm *websocket.PreparedMessage) {
	select {
	case c.queue <- pm:
	default:
		c.kill()
	}
}

// enqueueEcho is enqueue for /echo.
func (c *client) enqueueEcho(msg []byte) {
	select {
	case c.echo <- msg:
	default:
		c.kill()
	}
}

// writeLoop writes bursts: it takes every message already queued (up to
// maxBurst), then flushes them with one write and one write deadline.
func (c *client) writeLoop() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.ws.Close()
	}()
	for {
		var err error
		select {
		case pm := <-c.queue:
			c.begin()
			err = c.ws.WritePreparedMessage(pm)
		case msg := <-c.echo:
			c.begin()
			err = c.ws.WriteMessage(websocket.TextMessage, msg)
		case <-ticker.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
			if err != nil {
				return
			}
			continue
		case <-c.quit:
			return
		}
	drain:
		for n := 1; err == nil && n < maxBurst; n++ {
			select {
			case pm := <-c.queue:
				err = c.ws.WritePreparedMessage(pm)
			case msg := <-c.echo:
				err = c.ws.WriteMessage(websocket.TextMessage, msg)
			default:
				break drain
			}
		}
		if ferr := c.bc.flush(); err == nil {
			err = ferr
		}
		if err != nil {
			return
		}
	}
}

// begin starts a burst with its one write deadline.
func (c *client) begin() {
	c.bc.hold()
	c.ws.SetWriteDeadline(time.Now().Add(writeWait))
}

// readLoop reads until the connection fails, broadcasting (h != nil) or
// echoing each text message.
func (c *client) readLoop(h *hub) {
	defer func() {
		if h != nil {
			h.remove(c)
		}
		c.kill()
	}()
	c.ws.SetReadLimit(maxMessageSize)
	c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		if h != nil {
			h.broadcast(msg)
		} else {
			c.enqueueEcho(msg)
		}
	}
}

// hub is the set of broadcast clients: a slice, so that joining and leaving
// are O(1) (swap-remove, each client knows its index) and broadcasting is a
// plain loop under the read lock.
type hub struct {
	mu      sync.RWMutex
	clients []*client
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	c.idx = len(h.clients)
	h.clients = append(h.clients, c)
	h.mu.Unlock()
}

// remove takes c out; it is called once per client, by its reader.
func (h *hub) remove(c *client) {
	h.mu.Lock()
	last := h.clients[len(h.clients)-1]
	h.clients[c.idx] = last
	last.idx = c.idx
	h.clients[len(h.clients)-1] = nil
	h.clients = h.clients[:len(h.clients)-1]
	h.mu.Unlock()
}

// broadcast encodes msg once and queues it for every client.
func (h *hub) broadcast(msg []byte) {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
	if err != nil {
		return
	}
	h.mu.RLock()
	for _, c := range h.clients {
		c.enqueue(pm)
	}
	h.mu.RUnlock()
}

// serveWS upgrades the request and starts the client's reader and writer;
// h is nil for echo. Returning lets net/http drop its per-connection state.
func serveWS(h *hub, w http.ResponseWriter, r *http.Request) {
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return
	}
	c := &client{ws: ws, bc: hw.conn, quit: make(chan struct{})}
	if h != nil {
		c.queue = make(chan *websocket.PreparedMessage, queueDepth)
		h.add(c)
	} else {
		c.echo = make(chan []byte, queueDepth)
	}
	go c.writeLoop()
	go c.readLoop(h)
}

func newHandler() http.Handler {
	h := &hub{}
	return serve.Mux(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(nil, w, r) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(h, w, r) }),
	)
}

func main() {
	serve.Main("gorillabatched", newHandler())
}
