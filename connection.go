package sockets

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
type closeReason struct {
	code int    // close code to send; 0 sends no close frame
	text string // close frame text
	err  error  // reported on the errors channel; nil for a normal close
}

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
// less than 1/32 of PongWait stays, sparing a timer change per message;
// pongs, once per PingPeriod, always move it.
func (c *Conn) heardFromClient(exact bool) error {
	d := time.Now().Add(c.opts.PongWait)
	if !exact && d.Sub(c.readDeadline) < c.opts.PongWait/32 {
		return nil
	}
	c.readDeadline = d
	return c.net.SetReadDeadline(d)
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
// the connection down. The waiting half is kept apart from the shutdown
// half so that an idle connection's closer keeps a minimal stack.
func (c *Conn) closer() {
	defer close(c.closerDone)
	c.awaitReason()
	c.shutdown()
}

// awaitReason waits until the connection must close and records why.
func (c *Conn) awaitReason() {
	select {
	case <-c.stop:
	case code := <-c.disconnect:
		c.report(closeReason{code: sendableCode(code)})
	case <-c.handlerDone:
		select {
		case code := <-c.disconnect:
			c.report(closeReason{code: sendableCode(code)})
		default:
			c.report(closeReason{code: websocket.CloseNormalClosure})
		}
	}
}

// shutdown sends the close frame, waits (bounded) for the client's answer,
// closes the network connection, fires done, and then keeps a late
// disconnect from blocking the handler until it returns.
//
//go:noinline
func (c *Conn) shutdown() {
	c.mu.Lock()
	r := *c.reason
	c.mu.Unlock()
	close(c.closing)
	c.queue.signal() // the writer waits on its wake, not on closing
	if r.err != nil {
		c.reportError(r.err)
	}

	expired := make(chan struct{})
	grace := time.AfterFunc(c.opts.closeGrace(), func() { close(expired) })
	defer grace.Stop()
	deadline := time.Now().Add(c.opts.closeGrace())

	// Let the writer finish its burst, so the close frame comes last. A
	// writer stuck on a client that does not read is cut short: its write
	// fails now instead of at WriteWait, and no close frame is sent.
	select {
	case <-c.writerStopped:
	case <-expired:
		c.net.Conn.SetWriteDeadline(time.Now())
		<-c.writerStopped
		r.code = 0
	}
	if r.code != 0 {
		readerGone := isClosed(c.readerDone)
		err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(r.code, closeFrameText(r.text)), deadline)
		c.net.flush()
		// ErrCloseSent: gorilla sent it already (1009 on the read limit).
		if err == nil || errors.Is(err, websocket.ErrCloseSent) {
			c.awaitCloseReply(readerGone, expired)
		}
	}
	c.net.flush()
	c.net.Conn.Close()
	<-c.readerDone

	c.markGone()
	c.log.infof("%s: closed (%d %s)", c.req.RemoteAddr, r.code, closeText(r))
	c.done <- true
	close(c.done)

	for {
		select {
		case <-c.disconnect:
		case <-c.handlerDone:
			return
		}
	}
}

// markGone records that the network connection is closed and runs the
// OnClose hooks, once.
func (c *Conn) markGone() {
	c.mu.Lock()
	hooks := c.onClose
	c.onClose = nil
	close(c.gone)
	c.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// awaitCloseReply waits, until expired, for the client to answer our close
// frame: the reader reads the reply and ends. If the reader had ended
// already, whatever the client sent meanwhile is discarded for a moment
// instead, so that unread input does not turn the close into a TCP reset,
// which could destroy the close frame in flight.
func (c *Conn) awaitCloseReply(readerGone bool, expired <-chan struct{}) {
	if !readerGone {
		select {
		case <-c.readerDone:
		case <-expired:
		}
		return
	}
	c.net.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c.net.Conn, 1<<20))
}

// lingerTime is how long input is discarded after a close frame sent when
// the reader has already stopped.
const lingerTime = 100 * time.Millisecond

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// closeFrameText cuts text to what fits a close frame (123 bytes, RFC
// 6455 §5.5), at a UTF-8 boundary.
func closeFrameText(text string) string {
	const max = 123
	if len(text) <= max {
		return text
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

func closeText(r closeReason) string {
	if r.err != nil {
		return r.err.Error()
	}
	return r.text
}

// sendableCode maps codes that must not appear in a close frame (RFC 6455
// §7.4.1: 1004-1006, 1015, and anything outside 1000-4999) to 1011.
func sendableCode(code int) int {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return code
	}
	return websocket.CloseInternalServerErr
}

// Errors reported on the errors channel.
var (
	// ErrMessageTooBig: a message exceeded MaxMessageSize; the connection
	// was closed with 1009.
	ErrMessageTooBig = errors.New("sockets: message exceeds MaxMessageSize")
	// ErrInvalidUTF8: a text message was not valid UTF-8; the connection was
	// closed with 1007.
	ErrInvalidUTF8 = errors.New("sockets: text message is not valid UTF-8")
)

// readFailure turns the reader's error into a reason to close.
func readFailure(err error) closeReason {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		// The client closed; gorilla's close handler has answered.
		if ce.Code == websocket.CloseAbnormalClosure {
			break // gorilla's name for an EOF without a close frame
		}
		if ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway || ce.Code == websocket.CloseNoStatusReceived {
			return closeReason{text: ce.Text}
		}
		return closeReason{err: fmt.Errorf("sockets: client closed the connection: %w", err)}
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent the 1009 close frame itself.
		return closeReason{code: websocket.CloseMessageTooBig, err: fmt.Errorf("%w: %v", ErrMessageTooBig, err)}
	case isTimeout(err):
		return closeReason{err: fmt.Errorf("sockets: no pong within PongWait: %w", err)}
	}
	return closeReason{err: fmt.Errorf("sockets: connection lost: %w", err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
