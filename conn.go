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

// Conn is the handle of one upgraded connection. The bindings inject it into
// the next handler as *sockets.Conn, beside the channels, for what channels
// cannot say: the request, the peer's address, joining a Hub's rooms.
//
// Three goroutines serve a connection: the reader (the only one that reads
// frames), the writer (the only one that writes data frames, and the pings),
// and the closer (the only one that shuts the connection down). The
// handler's goroutine is the fourth, and it is the middleware's own.
type Conn struct {
	id   uint64
	ws   *websocket.Conn
	net  *batchConn
	req  *http.Request
	opts *Options
	log  logger

	// queue carries frames published through a Hub to the writer.
	queue *outbox

	errs       chan error
	done       chan bool
	disconnect chan int

	stop          chan struct{} // closed by report: the closer must act
	closing       chan struct{} // closed by the closer: shutdown has begun
	gone          chan struct{} // closed by the closer: the network connection is closed
	handlerDone   chan struct{} // closed by the middleware: the next handler returned
	readerDone    chan struct{}
	writerStopped chan struct{} // the writer writes no more frames
	writerDone    chan struct{}
	closerDone    chan struct{}

	// pingDue is set by the ping timer; the writer sends the ping.
	pingDue atomic.Bool
	// readDeadline is the read deadline last set; the reader's alone.
	readDeadline time.Time

	mu      sync.Mutex
	reason  *closeReason
	onClose []func()
}

// closeReason is why a connection ends.

var connIDs atomic.Uint64

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

// Close asks for the connection to be closed with the given close code and
// text. It does not block and may be called from any goroutine, any number
// of times; the first reason to close wins.
func (c *Conn) Close(code int, text string) {
	c.report(closeReason{code: sendableCode(code), text: text})
}

// OnClose registers f to run once the connection is closed (in the closer
// goroutine, before done fires). If it is already closed, f runs now.
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

// enqueue offers a frame to the writer without blocking. It reports false
// when the queue is full or the connection is to close.
func (c *Conn) enqueue(pm *websocket.PreparedMessage) bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	return c.queue.push(pm)
}

func newConn(ws *websocket.Conn, nc *batchConn, req *http.Request, opts *Options) *Conn {
	return &Conn{
		id:            connIDs.Add(1),
		ws:            ws,
		net:           nc,
		req:           req,
		opts:          opts,
		log:           logger{opts},
		queue:         newOutbox(opts.HubQueueSize),
		errs:          make(chan error, opts.ErrorChannelBuffer),
		done:          make(chan bool, 1),
		disconnect:    make(chan int, 1),
		stop:          make(chan struct{}),
		closing:       make(chan struct{}),
		gone:          make(chan struct{}),
		handlerDone:   make(chan struct{}),
		readerDone:    make(chan struct{}),
		writerStopped: make(chan struct{}),
		writerDone:    make(chan struct{}),
		closerDone:    make(chan struct{}),
	}
}

// report records why the connection must end; the first report wins.
func (c *Conn) report(r closeReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != nil {
		return
	}
	c.reason = &r
	close(c.stop)
}

// isClosing reports whether shutdown has begun.
func (c *Conn) isClosing() bool { return isClosed(c.closing) }

// closingGracefully reports whether the connection is closing by the
// server's choice with a close frame to send (the handler returned, sent a
// code, or a hub or shutdown asked), rather than because it failed.
func (c *Conn) closingGracefully() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason != nil && c.reason.code != 0 && c.reason.err == nil
}

// reportError puts err on the errors channel without ever blocking: when the
// channel is full, err is dropped and logged.
func (c *Conn) reportError(err error) {
	select {
	case c.errs <- err:
	default:
		c.log.warnf("%s: errors channel full, dropped: %v", c.req.RemoteAddr, errorWithoutPayload(err))
	}
}

// heardFromClient moves the read deadline to PongWait from now: a pong or a
// message shows the client is alive. Reader goroutine only (gorilla runs
// the pong handler there too). Unless exact, a deadline that would move by

// logPanic logs, with its stack, a panic that a codec recovered from the
// bound type's own methods.
func (c *Conn) logPanic(err error) {
	var pe *panicError
	if errors.As(err, &pe) {
		c.log.errorf("%s: panic in the bound type's JSON methods: %v\n%s", c.req.RemoteAddr, pe.value, pe.stack)
	}
}

// serve starts the reader, writer and closer, runs the next handler in the
// calling goroutine, and returns once the handler returned and the
// connection is closed.
func (c *Conn) serve(read, write func(), handler func()) {
	c.ws.SetReadLimit(c.opts.MaxMessageSize)
	c.heardFromClient(true)
	// The pong handler runs in the reader goroutine: it moves the read
	// deadline only. Write deadlines belong to the writer.
	c.ws.SetPongHandler(func(string) error {
		return c.heardFromClient(true)
	})

	go func() { defer close(c.readerDone); read() }()
	go func() { defer close(c.writerDone); write() }()
	go c.closer()

	defer func() {
		close(c.handlerDone)
		<-c.closerDone
		<-c.writerDone
	}()
	defer func() {
		if v := recover(); v != nil {
			c.log.errorf("%s: handler panic: %v\n%s", c.req.RemoteAddr, v, debug.Stack())
			c.report(closeReason{code: websocket.CloseInternalServerErr, text: "internal error"})
		}
	}()
	handler()
}

// closer owns shutdown. It waits for the first reason to close, then shuts

// codec is all that one binding adds to the connection engine: how a frame
// becomes a value of T and back.
type codec[T any] struct {
	// decode makes a value from a frame; data is only valid during the call.
	decode func(messageType int, data []byte) (T, error)
	// encode appends the frame for v to dst and returns it with its type.
	encode func(dst []byte, v T) (messageType int, frame []byte, err error)
}

// pump moves values of T between the websocket and the handler's channels.
type pump[T any] struct {
	c       *Conn
	codec   codec[T]
	recv    chan T                       // to the handler
	send    chan T                       // from the handler
	scratch []byte                       // the writer's encoding buffer
	frames  []*websocket.PreparedMessage // the writer's spare hub batch
}

// maxScratch is the largest encoding buffer the writer keeps between frames.
const maxScratch = 64 << 10
