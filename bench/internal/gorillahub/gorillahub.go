// Package gorillahub is the benchmark's baseline server: the classic
// gorilla/websocket chat-hub pattern. One hub goroutine owns the set of
// clients and serves register, unregister and broadcast channels; each client
// has a read goroutine, a write goroutine and a 256-deep send channel, and a
// client whose send channel is full is dropped. Unlike the chat example, the
// writer never coalesces queued messages: each message is its own text
// frame.
//
// The gorillahub peer serves it; cmd/idlemem runs it in-process.
package gorillahub

import (
	"log"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

// The timing and size constants of the classic example.
const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = (pongWait * 9) / 10
	maxMessageSize = 512
	sendBuffer     = 256
)

// hub keeps the set of broadcast clients and fans messages out to them.
type hub struct {
	clients    map[*client]bool
	broadcast  chan []byte
	register   chan *client
	unregister chan *client
}

func newHub() *hub {
	return &hub{
		clients:    make(map[*client]bool),
		broadcast:  make(chan []byte),
		register:   make(chan *client),
		unregister: make(chan *client),
	}
}

// run is the hub goroutine; it is the only one that touches clients and the
// only one that closes a broadcast client's send channel.
func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
			}
		case msg := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- msg:
				default:
					// Too slow: drop it; its writer sees the closed channel.
					close(c.send)
					delete(h.clients, c)
				}
			}
		}
	}
}

// client is one websocket connection. On /broadcast the hub owns it; on
// /echo the read goroutine is the only sender on send and closes it.
type client struct {
	hub  *hub // nil for an echo client
	conn *websocket.Conn
	send chan []byte
}

// readPump reads messages until the connection fails, passing each one to
// the hub (broadcast) or back to the writer (echo).
func (c *client) readPump() {
	defer func() {
		if c.hub != nil {
			c.hub.unregister <- c
		} else {
			close(c.send)
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		return nil
	})
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseGoingAway, websocket.CloseAbnormalClosure) {
				log.Printf("read: %v", err)
			}
			return
		}
		if c.hub != nil {
			c.hub.broadcast <- msg
			continue
		}
		select {
		case c.send <- msg:
		default:
			return // an echo client that does not read its replies
		}
	}
}

// writePump writes each queued message as one text frame and pings the peer
// every pingPeriod.
func (c *client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case msg, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, []byte{})
				return
			}
			w, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				return
			}
			w.Write(msg)
			if err := w.Close(); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// serveWS upgrades the request and starts the client's two goroutines; h is
// nil for echo.
func serveWS(upgrader *websocket.Upgrader, h *hub, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the request
	}
	c := &client{hub: h, conn: conn, send: make(chan []byte, sendBuffer)}
	if h != nil {
		h.register <- c
	}
	go c.writePump()
	go c.readPump()
}

// Handler returns the /echo and /broadcast routes over a new hub, whose
// goroutine it starts (it runs for the life of the process). The classic
// example's buffer sizes are 1024 and 1024 (ReadBufferSize and
// WriteBufferSize of gorilla's Upgrader); 0 makes gorilla use the HTTP
// server's buffers.
func Handler(readBufferSize, writeBufferSize int) http.Handler {
	upgrader := &websocket.Upgrader{ReadBufferSize: readBufferSize, WriteBufferSize: writeBufferSize}
	h := newHub()
	go h.run()
	return serve.Mux(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(upgrader, nil, w, r) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveWS(upgrader, h, w, r) }),
	)
}
