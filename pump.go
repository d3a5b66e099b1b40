package sockets

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

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
//
// It blocks on two channels only, the handler's sender and the wake
// signal: hub frames, a due ping and the start of shutdown all arrive as a
// wake, and are told apart by state (the outbox, pingDue, closing). A
// select over fewer channels costs less per message, and the ping timer
// sits in the runtime's timer heap instead of being re-armed every time
// the writer parks.
func (p *pump[T]) write() {
	c := p.c
	ping := time.AfterFunc(c.opts.PingPeriod, func() {
		c.pingDue.Store(true)
		c.queue.signal()
	})
	defer ping.Stop()
	defer p.stopped()
	for {
		if c.isClosing() {
			if c.closingGracefully() {
				// What the handler sent before closing goes out before
				// the close frame.
				p.beginBurst()
				p.drain()
				c.net.release()
			}
			return
		}
		var err error
		if c.pingDue.Swap(false) {
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteWait))
			ping.Reset(c.opts.PingPeriod)
		} else {
			select {
			case v := <-p.send: // the handler's frames first: see drain
				p.beginBurst()
				err = p.writeValue(v)
			default:
				select {
				case v := <-p.send:
					p.beginBurst()
					err = p.writeValue(v)
				case <-c.queue.wake:
					p.beginBurst()
					err = p.writeHubFrames()
				}
			}
		}
		if err == nil {
			err = p.drain()
		}
		if ferr := c.net.release(); err == nil {
			err = ferr
		}
		if err != nil {
			c.report(closeReason{err: fmt.Errorf("sockets: write failed: %w", err)})
			return
		}
	}
}

// beginBurst sets one write deadline for the frames to come. When more
// than the first frame is waiting, it buffers them all for one system call;
// a lone frame is written straight through, with no copy.
func (p *pump[T]) beginBurst() {
	p.c.ws.SetWriteDeadline(time.Now().Add(p.c.opts.WriteWait))
	if len(p.send) > 0 || p.c.queue.pending() {
		p.c.net.hold()
	}
}

// drain writes whatever else is queued, without waiting. The handler's
// sender goes before the hub's frames whenever both hold some, so what a
// handler sends before it joins a room is written before anything the room
// publishes afterwards. A wake it takes may have been meant for a ping or
// for shutdown; write checks both before it waits again.
func (p *pump[T]) drain() error {
	c := p.c
	held := false
	hold := func() { // more than one frame after all: buffer the rest
		if !held {
			c.net.hold()
			held = true
		}
	}
	for {
		select {
		case v := <-p.send:
			hold()
			if err := p.writeValue(v); err != nil {
				return err
			}
			continue
		default:
		}
		select {
		case <-c.queue.wake:
			hold()
			if err := p.writeHubFrames(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// writeHubFrames writes every frame the hub has queued, in order. What the
// handler sent before those frames were queued is in the sender's buffer
// by now, and goes first: the writer may have looked at the sender just
// before that send, or found both waiting and let the select choose.
// Only this goroutine receives from the sender, so the values counted are
// there to take.
func (p *pump[T]) writeHubFrames() error {
	frames := p.c.queue.take(p.frames)
	defer func() {
		clear(frames) // sent: let the prepared messages go
		if cap(frames) <= maxKeptFrames {
			p.frames = frames
		} else {
			p.frames = nil
		}
	}()
	for n := len(p.send); n > 0; n-- {
		if err := p.writeValue(<-p.send); err != nil {
			return err
		}
	}
	for _, pm := range frames {
		if err := p.c.ws.WritePreparedMessage(pm); err != nil {
			return err
		}
	}
	return nil
}

// writeValue encodes v and writes it. A value that cannot be encoded is
// reported on the errors channel and skipped; only a write error is returned.
func (p *pump[T]) writeValue(v T) error {
	mt, frame, err := p.codec.encode(p.scratch[:0], v)
	if err != nil {
		p.c.logPanic(err)
		p.c.log.infof("%s: dropped an outgoing message: %v", p.c.req.RemoteAddr, err)
		p.c.reportError(err)
		return nil
	}
	if cap(frame) <= maxScratch {
		p.scratch = frame[:0]
	}
	return p.c.ws.WriteMessage(mt, frame)
}

// stopped tells the closer that no more frames will be written, then
// releases a handler blocked on the sender by discarding what it sends until
// it returns. It discards only once shutdown has begun (the writer stops
// after a report, so it begins soon): a handler that sends in a loop
// would otherwise keep this goroutine and its own busy with sends that go
// nowhere, and could starve the closer, which tells it of the failure.
func (p *pump[T]) stopped() {
	close(p.c.writerStopped)
	<-p.c.closing
	for {
		select {
		case <-p.send:
		case <-p.c.handlerDone:
			return
		}
	}
}
