package sockets

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// read is the reader goroutine: the only one that reads frames. It hands
// each message to the handler, in order, and reads on after the
// connection begins to close (dropping what comes) until the client's
// close frame, a fault or the end of the closing handshake.
func (p *pump[T]) read() {
	c := p.c
	defer c.goroutines.Done()
	defer close(c.readerDone)
	c.ws.SetReadLimit(c.opts.MaxMessageSize) // frameCheck enforces it first
	c.ws.SetPingHandler(c.pinged)
	c.ws.SetPongHandler(func(string) error { c.heard(time.Now()); return nil })
	// No close frame from here: the writer answers the client's, after
	// the frames the handler sent before it.
	c.ws.SetCloseHandler(func(int, string) error { return nil })

	var lastMessage time.Time // when the last message reached the handler
	limit := newRateLimit(c.opts.MessageRate, c.opts.MessageBurst, c.heard(time.Now()))
	for {
		mt, r, err := c.ws.NextReader()
		if err == nil {
			var msg *[]byte
			msg, err = readMessage(r, mt == websocket.TextMessage, c.opts.MaxMessageSize)
			if err == nil {
				now := c.heard(time.Now())
				c.received.Add(1)
				c.receivedBytes.Add(uint64(len(*msg)))
				switch {
				case isClosed(c.stop):
				case !limit.allow(now):
					p.overRate()
				default:
					lastMessage = now
					p.deliver(mt, *msg)
				}
				putMessageBuffer(msg)
				continue
			}
		}
		why := readFailure(err, c.opts.PongWait)
		// A message that reached the handler just before may have a reply
		// on its way: it goes out before the close frame.
		why.awaitReplies = time.Since(lastMessage) < replyWindow
		c.end(why)
		return
	}
}

// deliver decodes a message and hands it to the handler. While the
// handler is busy, frames wait unread, pongs too; the client's silence is
// measured again from when the handler takes the message (a deadline that
// passed while nothing was being read has no effect once moved).
func (p *pump[T]) deliver(mt int, data []byte) {
	c := p.c
	v, err := p.codec.decode(mt, data)
	if err != nil {
		c.opts.Group.stats.decodeErrors.Add(1)
		c.logPanic(err)
		c.log.infof("%s: dropped a message: %s", c.req.RemoteAddr, loggedError(err))
		c.log.debugf("%s: dropped payload %s", c.req.RemoteAddr, clipBytes(data))
		c.reportError(err)
		return
	}
	select {
	case p.recv <- v: // the common case, without a two-way select
	default:
		select {
		case p.recv <- v:
		case <-c.stop:
		}
		c.heard(time.Now())
	}
}

// overRate handles a message over Options.MessageRate, as
// RateLimitPolicy says.
func (p *pump[T]) overRate() {
	c := p.c
	c.opts.Group.stats.rateLimited.Add(1)
	if c.opts.RateLimitPolicy == CloseOverRate {
		c.end(closeReason{code: websocket.ClosePolicyViolation, text: "message rate exceeded", err: ErrRateLimited})
		return
	}
	c.reportError(ErrRateLimited)
}

// rateLimit is a token bucket, the reader's own: burst tokens, refilled at
// rate per second as messages come, with no timer.
type rateLimit struct {
	rate, burst, tokens float64
	last                time.Time
}

func newRateLimit(rate float64, burst int, now time.Time) rateLimit {
	return rateLimit{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow reports whether a message arriving at now is within the rate, and
// takes its token.
func (l *rateLimit) allow(now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	l.last = now
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// heard moves the read deadline to PongWait after now: a frame shows that
// the client is alive. It returns now. Reader goroutine only (gorilla runs
// the ping and pong handlers there too).
func (c *Conn) heard(now time.Time) time.Time {
	c.net.extendReadDeadline(now.Add(c.opts.PongWait), now)
	return now
}

// pinged is the ping handler: the writer answers with a pong, and only the
// latest ping is answered when several come before it can (RFC 6455 §5.5.3).
func (c *Conn) pinged(data string) error {
	b := []byte(data)
	c.pong.Store(&b)
	c.ring()
	c.heard(time.Now())
	return nil
}

// replyWindow is how recent the last message must be, when the client
// closes or fails the connection, for its reply to be awaited: the writer
// then waits for the handler to take every message it was given and for
// its sends to pause this long, within closeGrace, before the close frame.
const replyWindow = 50 * time.Millisecond

// messageBuffers hold messages being read: a connection holds one only
// while a message passes through.
var messageBuffers = sync.Pool{New: func() interface{} {
	b := make([]byte, 0, 4096)
	return &b
}}

func putMessageBuffer(b *[]byte) {
	if cap(*b) <= maxScratch {
		*b = (*b)[:0]
		messageBuffers.Put(b)
	}
}

// readMessage reads one message into a pooled buffer, which the caller
// returns with putMessageBuffer. It fails as soon as the message passes
// limit bytes (after decompression), or, for text, as soon as the bytes so
// far cannot begin valid UTF-8 (RFC 6455 §8.1: fail fast).
func readMessage(r io.Reader, text bool, limit int64) (*[]byte, error) {
	bp := messageBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	var utf utf8Prefix
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if left := limit - int64(len(b)); left < math.MaxInt64 && int64(len(room)) > left+1 {
			room = room[:left+1] // one byte past the limit tells it is over
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		*bp = b
		switch {
		case int64(len(b)) > limit:
			putMessageBuffer(bp)
			return nil, errMessageTooBig
		case text && !utf.valid(b):
			putMessageBuffer(bp)
			return nil, errInvalidUTF8
		case err == io.EOF:
			if text && !utf.complete(b) {
				putMessageBuffer(bp)
				return nil, errInvalidUTF8
			}
			return bp, nil
		case err != nil:
			putMessageBuffer(bp)
			return nil, err
		}
	}
}

// utf8Prefix checks a text message as it grows: valid reports whether the
// bytes so far can begin valid UTF-8, complete whether they are valid
// UTF-8. Each byte is looked at about once.
type utf8Prefix struct {
	checked int // b[:checked] is valid UTF-8 and ends at a rune boundary
}

func (u *utf8Prefix) valid(b []byte) bool {
	end := len(b)
	for i := end - 1; i >= u.checked && i >= end-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:end]) {
				if !canComplete(b[i:end]) {
					return false
				}
				end = i
			}
			break
		}
	}
	if !utf8.Valid(b[u.checked:end]) {
		return false
	}
	u.checked = end
	return true
}

func (u *utf8Prefix) complete(b []byte) bool {
	return u.valid(b) && u.checked == len(b)
}

// canComplete reports whether p, the start of a multi-byte rune, can be
// completed into valid UTF-8. The second byte's valid range always holds
// 0x80 or 0xBF, and the later bytes may be anything from 0x80 to 0xBF, so
// trying both is enough.
func canComplete(p []byte) bool {
	var buf [4]byte
	for _, fill := range []byte{0x80, 0xBF} {
		n := copy(buf[:], p)
		for i := n; i < 4; i++ {
			buf[i] = fill
		}
		if r, size := utf8.DecodeRune(buf[:]); r != utf8.RuneError && size > len(p) {
			return true
		}
	}
	return false
}

var (
	errMessageTooBig = &protocolError{code: websocket.CloseMessageTooBig, text: "message exceeds MaxMessageSize"}
	errInvalidUTF8   = &protocolError{code: websocket.CloseInvalidFramePayloadData, text: "text message is not valid UTF-8"}
)

// readFailure turns what ended the reader into a reason to close.
func readFailure(err error, pongWait time.Duration) closeReason {
	var fault *protocolError
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &fault):
		r := closeReason{code: fault.code, text: fault.text}
		switch fault.code {
		case websocket.CloseMessageTooBig:
			r.err = ErrMessageTooBig
		case websocket.CloseInvalidFramePayloadData:
			r.err = ErrInvalidUTF8
		default:
			r.err = fmt.Errorf("%w: %s", ErrProtocol, fault.text)
		}
		return r
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		// The client's close frame: the writer answers it with its code.
		r := closeReason{code: ce.Code, text: ce.Text, byClient: true}
		switch ce.Code {
		case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived:
		default:
			r.err = fmt.Errorf("sockets: the client closed the connection with %d %q", ce.Code, ce.Text)
		}
		return r
	case errors.Is(err, websocket.ErrReadLimit):
		return closeReason{code: websocket.CloseMessageTooBig, err: ErrMessageTooBig}
	case isTimeout(err):
		return closeReason{err: fmt.Errorf("sockets: no pong or message from the client within PongWait (%v)", pongWait)}
	}
	// gorilla's CloseAbnormalClosure is an EOF without a close frame.
	return closeReason{byClient: true, err: fmt.Errorf("sockets: connection lost: %w", err)}
}
