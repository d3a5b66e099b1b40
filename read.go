package sockets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// read is the reader goroutine: the only one that reads frames.
func (p *pump[T]) read() {
	c := p.c
	limit := c.opts.MaxMessageSize
	var buf bytes.Buffer
	var lr io.LimitedReader
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			c.report(readFailure(err))
			return
		}
		if buf.Cap() > maxScratch {
			buf = bytes.Buffer{} // do not keep a rare large buffer
		}
		buf.Reset()
		// The limit applies after decompression, too. One byte more than
		// the limit tells a message over it (no limit is over MaxInt64).
		lr.R, lr.N = r, limit
		if limit < math.MaxInt64 {
			lr.N++
		}
		n, err := buf.ReadFrom(&lr)
		lr.R = nil
		if err != nil {
			c.report(readFailure(err))
			return
		}
		if n > limit {
			c.report(closeReason{code: websocket.CloseMessageTooBig, err: ErrMessageTooBig})
			return
		}
		if mt == websocket.TextMessage && !utf8.Valid(buf.Bytes()) {
			c.report(closeReason{code: websocket.CloseInvalidFramePayloadData, err: ErrInvalidUTF8})
			return
		}
		c.heardFromClient(false)
		select {
		case <-c.closing:
			continue // shutting down: read on until the close reply
		default:
		}
		v, err := p.codec.decode(mt, buf.Bytes())
		if err != nil {
			c.logPanic(err)
			c.log.infof("%s: dropped a message: %v", c.req.RemoteAddr, errorWithoutPayload(err))
			c.log.debugf("%s: dropped payload %q", c.req.RemoteAddr, truncate(buf.Bytes()))
			c.reportError(err)
			continue
		}
		select {
		case p.recv <- v: // the common case, without a two-way select
		default:
			// The handler is busy. Frames wait unread meanwhile, pongs
			// too, so the client's silence is measured again from when
			// the handler takes the message (a deadline that passes while
			// nothing is being read has no effect once moved).
			select {
			case p.recv <- v:
			case <-c.closing:
			}
			c.heardFromClient(true)
		}
	}
}

// write is the writer goroutine: the only one that writes data frames, and
// the pings. A burst of queued frames leaves in one system call: frames
// are buffered while anything is queued and flushed when nothing is, so a
// lone message is not delayed.

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
