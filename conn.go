package sockets

import (
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is the handle of one upgraded connection. The bindings inject it
// into the next handler as *sockets.Conn, beside the channels, for what
// channels cannot say: the request, the peer's address, how the connection
// ended, frames sent past the sender, joining a Hub's rooms.
//
// The package doc says how a connection runs; each field below names the
// one goroutine that owns it.
type Conn struct {
	id   uint64
	ws   *websocket.Conn
	net  *netConn
	req  *http.Request
	opts *Options
	log  logger
	// deflate: compression was negotiated (set before the goroutines
	// start), so the writer writes a Frame as prepared and compressed
	// once for all such connections.
	deflate bool

	// The handler's channels, beside the binding's receiver and sender.
	errs       chan error // any goroutine sends, never blocking (reportError); never closed
	done       chan bool  // the closer sends true once the network connection is closed, then closes it
	disconnect chan int   // the handler sends; the closer receives, and discards late codes until the handler returns

	// How the connection ends. Each is closed once, by the one named.
	stop        chan struct{}  // by end, under mu: the connection must end, reason says why
	flushed     chan struct{}  // by the writer: it writes no more; the close frame, if any, is out
	readerDone  chan struct{}  // by the reader, as it returns
	gone        chan struct{}  // by the closer: the network connection is closed
	handlerDone chan struct{}  // by the middleware: the handler returned
	goroutines  sync.WaitGroup // the reader, writer and closer; the middleware waits for them

	// The writer's doorbell: room for one ring. The hub and Send (frames
	// queued), the ping timer (pingDue), the reader (pong) and end (stop)
	// ring it; only the writer receives. Each ring means "look at your
	// state", so a ring may serve more than one of them.
	wake    chan struct{}
	queue   outbox
	pingDue atomic.Bool
	pong    atomic.Pointer[[]byte] // the latest ping's payload, to answer

	// Counters, each written by one goroutine and read by Group.Stats.
	received, receivedBytes atomic.Uint64 // the reader's: messages from the client
	sent, sentBytes         atomic.Uint64 // the writer's: data messages to it
	droppedErrors           atomic.Uint64 // errors that found errs full
	// The close frames, set by the closer before gone: the code sent, and
	// the client's when it began (0: none).
	codeSent, codeReceived int

	mu        sync.Mutex
	reason    *closeReason // set once, by end
	closeSent bool         // by the writer, before flushed: the close frame went out
	status    *CloseError  // by the closer, before gone
	onClose   []func()
}

var connIDs atomic.Uint64

func newConn(ws *websocket.Conn, nc *netConn, req *http.Request, opts *Options) *Conn {
	return &Conn{
		id:          connIDs.Add(1),
		ws:          ws,
		net:         nc,
		req:         req,
		opts:        opts,
		log:         logger{opts},
		errs:        make(chan error, opts.ErrorChannelBuffer),
		done:        make(chan bool, 1),
		disconnect:  make(chan int, 1),
		stop:        make(chan struct{}),
		flushed:     make(chan struct{}),
		readerDone:  make(chan struct{}),
		gone:        make(chan struct{}),
		handlerDone: make(chan struct{}),
		wake:        make(chan struct{}, 1),
		queue:       outbox{max: opts.HubQueueSize, maxBytes: opts.HubQueueBytes},
	}
}

// ID returns a number unique to this connection within the process.
func (c *Conn) ID() uint64 { return c.id }

// Request returns the HTTP request that was upgraded.
func (c *Conn) Request() *http.Request { return c.req }

// RemoteAddr returns the network address of the client.
func (c *Conn) RemoteAddr() net.Addr { return c.net.RemoteAddr() }

// Subprotocol returns the negotiated subprotocol, or "".
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// Done returns a channel closed once the network connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.gone }

// CloseError returns how the connection ended: the close code and reason,
// which side began, and the fault, if any. It is nil until the network
// connection is closed (Done, and done on the handler's channel).
func (c *Conn) CloseError() *CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Close asks for the connection to be closed with the given close code and
// text. It does not block and may be called from any goroutine, any number
// of times; the first reason to close wins.
func (c *Conn) Close(code int, text string) {
	c.end(closeReason{code: sendableCode(code), text: text})
}

// OnClose registers f to run once the network connection is closed (in
// the closer goroutine, before done fires). If it is closed already, f
// runs now. f must not block: done waits for it.
func (c *Conn) OnClose(f func()) {
	c.mu.Lock()
	select {
	case <-c.gone:
		c.mu.Unlock()
		f()
		return
	default:
	}
	c.onClose = append(c.onClose, f)
	c.mu.Unlock()
}

// Message types for Send and the Hub's Publish.
const (
	TextMessage   = websocket.TextMessage   // UTF-8 text
	BinaryMessage = websocket.BinaryMessage // binary data
)

// Send queues one message for this connection alone, through the queue that
// a Hub's messages take (Options.HubQueueSize frames), without blocking;
// the writer sends it after what the handler sent on the sender before the
// call. messageType is TextMessage (data must be valid UTF-8) or
// BinaryMessage. It reports ErrQueueFull when the queue is full (the message
// is dropped, the connection stays) and ErrClosed once the connection is
// ending. Do not modify data after the call.
func (c *Conn) Send(messageType int, data []byte) error {
	if err := checkFrame(messageType, data); err != nil {
		return err
	}
	pm, err := websocket.NewPreparedMessage(messageType, data)
	if err != nil {
		return err
	}
	return c.sendQueued(queuedFrame{pm: pm, size: len(data)})
}

// sendQueued is Send for a message prepared or checked already.
func (c *Conn) sendQueued(q queuedFrame) error {
	if isClosed(c.stop) {
		return ErrClosed
	}
	if !c.enqueueQueued(q) {
		if isClosed(c.stop) {
			return ErrClosed
		}
		return ErrQueueFull
	}
	return nil
}

// enqueue offers a frame of size payload bytes to the writer without
// blocking. It reports false when the queue is full or the connection is
// ending.
func (c *Conn) enqueue(pm *websocket.PreparedMessage, size int) bool {
	return c.enqueueQueued(queuedFrame{pm: pm, size: size})
}

// enqueueQueued is enqueue for a queue's entry: a prepared message or a
// Frame.
func (c *Conn) enqueueQueued(q queuedFrame) bool {
	if isClosed(c.stop) || !c.queue.push(q) {
		return false
	}
	c.ring()
	return true
}

// ring wakes the writer without blocking.
func (c *Conn) ring() {
	select {
	case c.wake <- struct{}{}:
	default: // a ring is pending already
	}
}

// end records why the connection must end and tells every goroutine; the
// first reason wins. From then on, the closing handshake has closeGrace:
// no read or write on the network connection may take longer.
func (c *Conn) end(r closeReason) {
	c.mu.Lock()
	if c.reason != nil {
		c.mu.Unlock()
		return
	}
	c.reason = &r
	close(c.stop)
	c.mu.Unlock()
	c.net.capDeadlines(time.Now().Add(c.opts.closeGrace()))
	c.ring()
}

// why returns the reason to close; call it once stop is closed.
func (c *Conn) why() closeReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.reason
}

// reportError puts err on the errors channel without ever blocking: when the
// channel is full, err is dropped and logged.
func (c *Conn) reportError(err error) {
	select {
	case c.errs <- err:
	default:
		// Logged at the 1st, 2nd, 4th, 8th... drop: a client cannot flood
		// the log through it.
		if n := c.droppedErrors.Add(1); n&(n-1) == 0 {
			c.log.warnf("%s: errors channel full, %d dropped so far, the last: %s", c.req.RemoteAddr, n, loggedError(err))
		}
	}
}

// logPanic logs, with its stack, a panic that a codec recovered from the
// bound type's own methods.
func (c *Conn) logPanic(err error) {
	var pe *panicError
	if errors.As(err, &pe) {
		c.log.errorf("%s: panic in the bound type's JSON methods: %v\n%s", c.req.RemoteAddr, pe.value, pe.stack)
	}
}

// serve starts the reader, writer and closer, runs the next handler in the
// calling goroutine, and returns once the handler has returned and the
// three goroutines have ended.
func (c *Conn) serve(read, write func(), handler func()) {
	c.goroutines.Add(3)
	go read()
	go write()
	go c.closer()
	defer func() {
		close(c.handlerDone)
		c.goroutines.Wait()
	}()
	defer func() {
		if v := recover(); v != nil {
			c.opts.Group.stats.panics.Add(1)
			c.log.errorf("%s: handler panic: %v\n%s", c.req.RemoteAddr, v, debug.Stack())
			c.end(closeReason{code: websocket.CloseInternalServerErr, text: "internal error"})
		}
	}()
	handler()
}

// codec is all that one binding adds to the connection engine: how a frame
// becomes a value of T and back.
type codec[T any] struct {
	// decode makes a value from a frame; data is only valid during the call.
	decode func(messageType int, data []byte) (T, error)
	// encode appends the frame for v to dst and returns it with its type.
	encode func(dst []byte, v T) (messageType int, frame []byte, err error)
}

// pump moves values of T between the websocket and the handler's channels:
// its read method is the reader goroutine, its write method the writer.
type pump[T any] struct {
	c     *Conn
	codec codec[T]
	recv  chan T // to the handler; the reader sends
	send  chan T // from the handler; the writer receives

	// The writer's.
	scratch []byte        // encoding buffer
	frames  []queuedFrame // spare slice for the queue's frames
	ping    *time.Timer   // rings for a ping; nil once the connection ends
}

// maxScratch is the largest encoding buffer the writer keeps between frames.
const maxScratch = 64 << 10

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
