package sockets

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

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

// outbox is a connection's bounded queue of frames published through a
// Hub. It holds no memory while empty (an idle connection pays for one
// small channel), and the writer takes everything queued in one step.
type outbox struct {
	mu     sync.Mutex
	frames []*websocket.PreparedMessage
	max    int
	// wake has room for one signal: the writer has something to look at
	// (frames queued, a ping due, or shutdown begun).
	wake chan struct{}
}

func newOutbox(max int) *outbox {
	return &outbox{max: max, wake: make(chan struct{}, 1)}
}

// push queues pm without blocking; it reports false when the outbox is full.
func (o *outbox) push(pm *websocket.PreparedMessage) bool {
	o.mu.Lock()
	if len(o.frames) >= o.max {
		o.mu.Unlock()
		return false
	}
	o.frames = append(o.frames, pm)
	o.mu.Unlock()
	o.signal()
	return true
}

// signal wakes the writer without blocking.
func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default: // a signal is pending already
	}
}

// pending reports whether frames are queued.
func (o *outbox) pending() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames) > 0
}

// take returns every queued frame, in order, leaving spare (emptied by the
// caller) in their place, so that two slices serve a connection's life.
func (o *outbox) take(spare []*websocket.PreparedMessage) []*websocket.PreparedMessage {
	o.mu.Lock()
	frames := o.frames
	o.frames = spare[:0]
	o.mu.Unlock()
	return frames
}

// maxKeptFrames is the largest slice the writer keeps between bursts.
const maxKeptFrames = 1024

// batchConn wraps the hijacked network connection so that a burst of frames
// leaves in one write system call.
//
// Outside a burst every Write goes straight to the network. Between hold and
// release, writes (from the writer goroutine, and control frames written by
// gorilla from the reader or closer) are appended to a buffer borrowed from a
// pool; release writes them all at once, with the last write deadline asked
// for, and returns the buffer, so an idle connection holds none.
type batchConn struct {
	net.Conn

	mu          sync.Mutex
	holding     bool
	buf         *[]byte
	deadline    time.Time
	deadlineSet bool
	applied     time.Time // the write deadline the network connection has
	// slack is how much earlier than asked a write deadline may fall: a
	// deadline that moves later by less than this is not re-applied, which
	// spares the runtime's timer heap a change per frame.
	slack time.Duration
	err   error

	// deadlineCalls counts write deadlines applied to the network connection.
	deadlineCalls atomic.Int64
}

const (
	// batchFlushSize makes a long burst flush early, bounding the buffer.
	batchFlushSize = 32 << 10
	// batchKeepSize is the largest buffer returned to the pool.
	batchKeepSize = 64 << 10
)

var batchPool = sync.Pool{New: func() interface{} {
	b := make([]byte, 0, 4096)
	return &b
}}

func newBatchConn(c net.Conn, slack time.Duration) *batchConn {
	return &batchConn{Conn: c, slack: slack}
}

// Write sends p now, or appends it to the burst's buffer while holding.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.holding {
		return b.Conn.Write(p)
	}
	if b.buf == nil {
		b.buf = batchPool.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= batchFlushSize {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// SetWriteDeadline applies t now, or to the burst's single flush while
// holding. The flush carries every frame of the burst, so it gets the
// latest deadline asked for during the burst (none, if one asked for
// none): a control frame's short deadline (gorilla gives a pong one
// second) must not cut short the writer's frames buffered with it.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holding {
		if !b.deadlineSet || (!b.deadline.IsZero() && (t.IsZero() || t.After(b.deadline))) {
			b.deadline = t
		}
		b.deadlineSet = true
		return nil
	}
	return b.applyDeadline(t)
}

func (b *batchConn) applyDeadline(t time.Time) error {
	if !t.IsZero() && !b.applied.IsZero() && !t.Before(b.applied) && t.Sub(b.applied) < b.slack {
		return nil
	}
	b.applied = t
	b.deadlineCalls.Add(1)
	return b.Conn.SetWriteDeadline(t)
}

// hold starts buffering a burst; holding already, it does nothing.
func (b *batchConn) hold() {
	b.mu.Lock()
	b.holding = true
	b.mu.Unlock()
}

// release ends a burst and flushes what it buffered.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holding = false
	return b.flushLocked()
}

// flush writes out anything buffered, holding or not.
func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batchConn) flushLocked() error {
	if b.buf == nil {
		return b.err
	}
	if b.deadlineSet {
		b.applyDeadline(b.deadline)
		b.deadlineSet = false
	}
	var err error
	if b.err == nil && len(*b.buf) > 0 {
		_, err = b.Conn.Write(*b.buf)
	}
	*b.buf = (*b.buf)[:0]
	if cap(*b.buf) <= batchKeepSize {
		batchPool.Put(b.buf)
	}
	b.buf = nil
	if err != nil && b.err == nil {
		b.err = err
	}
	return b.err
}
