package sockets

import (
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// write is the writer goroutine: the only one that writes frames (data,
// pings, pongs and the close frame). A burst of queued frames leaves in
// one system call: frames are buffered while more are queued and flushed
// when none are, so a lone message is not delayed.
//
// It blocks on two channels only, the handler's sender and its doorbell
// (Conn.wake); queued frames, a due ping or pong and the end all arrive as
// a ring, told apart by state. A select over fewer channels costs less per
// message, and the ping timer stays in the runtime's timer heap instead of
// being re-armed every time the writer parks.
//
// Once the connection must end, it writes what is still queued and the
// close frame, if one is due. Once the network connection is closed, it
// discards what the handler sends until it returns, so a handler never
// blocks on its sender.
func (p *pump[T]) write() {
	c := p.c
	defer c.goroutines.Done()
	p.ping = time.AfterFunc(c.opts.PingPeriod, func() {
		c.pingDue.Store(true)
		c.ring()
	})
	err := p.writeUntilEnd()
	p.ping.Stop()
	p.ping = nil
	if err != nil {
		c.end(closeReason{err: writeFailure(err, c.opts.WriteWait)})
	} else {
		p.writeLast()
	}
	close(c.flushed)
	// The handler learns of the end from done; until then its sends block.
	<-c.gone
	for {
		select {
		case <-p.send:
		case <-c.handlerDone:
			return
		}
	}
}

// writeUntilEnd writes frames as they come until the connection must end
// (nil) or a write fails.
func (p *pump[T]) writeUntilEnd() error {
	c := p.c
	for {
		if isClosed(c.stop) {
			return nil
		}
		var err error
		select {
		case v := <-p.send: // the handler's frames first: see drain
			p.beginBurst()
			err = p.writeValue(v)
		default:
			select {
			case v := <-p.send:
				p.beginBurst()
				err = p.writeValue(v)
			case <-c.wake:
				if isClosed(c.stop) {
					return nil
				}
				p.beginBurst()
				err = p.writeRung()
			}
		}
		if err == nil {
			err = p.drain()
		}
		if ferr := c.net.release(); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
	}
}

// writeLast writes, when a close frame is due, what is still queued and
// then the close frame, in one burst, within closeGrace (end capped the
// deadlines). When the client closed or failed the connection just after
// a message, the handler's reply to it goes first (awaitReplies).
func (p *pump[T]) writeLast() {
	c := p.c
	r := c.why()
	if r.code == 0 {
		return
	}
	c.net.hold()
	var err error
	if r.awaitReplies {
		err = p.awaitReplies()
	}
	if err == nil {
		err = p.drain()
	}
	if err == nil {
		err = c.ws.WriteControl(websocket.CloseMessage, closePayload(r), time.Now().Add(c.opts.closeGrace()))
	}
	if ferr := c.net.release(); err == nil {
		err = ferr
	}
	c.mu.Lock()
	c.closeSent = err == nil
	c.mu.Unlock()
}

// awaitReplies writes what the handler sends until it has taken every
// message given to it and then sent nothing for replyWindow, or until
// closeGrace has passed.
func (p *pump[T]) awaitReplies() error {
	grace := time.NewTimer(p.c.opts.closeGrace())
	defer grace.Stop()
	quiet := time.NewTimer(replyWindow)
	defer quiet.Stop()
	for {
		select {
		case v := <-p.send:
			if err := p.writeValue(v); err != nil {
				return err
			}
			quiet.Reset(replyWindow)
		case <-quiet.C:
			if len(p.recv) == 0 {
				return nil
			}
			quiet.Reset(replyWindow)
		case <-grace.C:
			return nil
		}
	}
}

// beginBurst starts writing what is waiting. When more than the first
// frame is waiting, it buffers them all for one system call; a lone frame
// is written straight through, with no copy. Each write is allowed
// WriteWait (netConn applies it: gorilla asks for no deadline of its own).
func (p *pump[T]) beginBurst() {
	if len(p.send) > 0 || p.c.queue.pending() {
		p.c.net.hold()
	}
}

// drain writes whatever else is queued, without waiting. The handler's
// sender goes before the queue's frames whenever both hold some, so what a
// handler sends before it joins a room is written before anything the
// room publishes afterwards. A ring it takes may have been meant for the
// end; the caller looks at stop before it waits again.
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
		case <-c.wake:
			hold()
			if err := p.writeRung(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// writeRung writes what a ring may have announced: a pong, a ping (not
// once the connection is ending) and the queue's frames.
func (p *pump[T]) writeRung() error {
	c := p.c
	if err := p.writePong(); err != nil {
		return err
	}
	if p.ping != nil && c.pingDue.Swap(false) {
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteWait)); err != nil {
			return err
		}
		p.ping.Reset(c.opts.PingPeriod)
	}
	return p.writeQueued()
}

// writeQueued writes every frame queued by a Hub or Send, in order. What
// the handler sent before those frames were queued is in the sender's
// buffer by now, and goes first: the writer may have looked at the sender
// just before that send, or found both waiting and let the select choose.
// Only this goroutine receives from the sender, so the values counted are
// there to take.
func (p *pump[T]) writeQueued() error {
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
	for _, f := range frames {
		if err := p.writeQueuedFrame(f); err != nil {
			return err
		}
		p.c.sent.Add(1)
		p.c.sentBytes.Add(uint64(f.size))
	}
	return nil
}

// writeQueuedFrame writes one frame of the queue: a prepared message as it
// is, a Frame from its payload (gorilla writes the header, then the
// payload from where it is), or, where compression was negotiated, the
// Frame as prepared once for every such connection.
func (p *pump[T]) writeQueuedFrame(f queuedFrame) error {
	switch {
	case f.pm != nil:
		return p.c.ws.WritePreparedMessage(f.pm)
	case p.c.deflate:
		pm, err := f.frame.prepared()
		if err != nil {
			return err
		}
		return p.c.ws.WritePreparedMessage(pm)
	default:
		return p.c.ws.WriteMessage(f.frame.typ, f.frame.data)
	}
}

// writePong answers the latest ping, if it is not answered yet.
func (p *pump[T]) writePong() error {
	pong := p.c.pong.Swap(nil)
	if pong == nil {
		return nil
	}
	return p.c.ws.WriteControl(websocket.PongMessage, *pong, time.Now().Add(p.c.opts.WriteWait))
}

// writeValue encodes v, a value the handler sent, and writes it. A ping
// that came before the message the handler answers with v is answered
// first: its pong is due by then. A value that cannot be encoded is
// reported on the errors channel and skipped; only a write error is
// returned.
func (p *pump[T]) writeValue(v T) error {
	if p.c.pong.Load() != nil {
		if err := p.writePong(); err != nil {
			return err
		}
	}
	mt, frame, err := p.codec.encode(p.scratch[:0], v)
	if err != nil {
		p.c.opts.Group.stats.encodeErrors.Add(1)
		p.c.logPanic(err)
		p.c.log.infof("%s: dropped an outgoing message: %v", p.c.req.RemoteAddr, err)
		p.c.reportError(err)
		return nil
	}
	if cap(frame) <= maxScratch {
		p.scratch = frame[:0]
	}
	if err := p.c.ws.WriteMessage(mt, frame); err != nil {
		return err
	}
	p.c.sent.Add(1)
	p.c.sentBytes.Add(uint64(len(frame)))
	return nil
}

// writeFailure says what went wrong with a write.
func writeFailure(err error, writeWait time.Duration) error {
	if isTimeout(err) {
		return fmt.Errorf("sockets: write timed out: the client took nothing for WriteWait (%v): %w", writeWait, err)
	}
	return fmt.Errorf("sockets: write failed: %w", err)
}

// outbox is a connection's bounded queue of frames from a Hub or Send,
// bounded in frames and in payload bytes. It holds no memory while empty,
// and the writer takes everything queued in one step.
type outbox struct {
	mu       sync.Mutex
	frames   []queuedFrame
	bytes    int // payload bytes queued
	max      int // frames
	maxBytes int // 0: no byte bound
}

// queuedFrame is a frame, prepared (pm) or a Frame, and its payload's
// size.
type queuedFrame struct {
	pm    *websocket.PreparedMessage
	frame *Frame // when pm is nil
	size  int
}

// push queues q without blocking; it reports false when the outbox is
// full, in frames or in bytes (a frame over the byte bound is taken when
// nothing else is queued).
func (o *outbox) push(q queuedFrame) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) >= o.max || (o.maxBytes > 0 && len(o.frames) > 0 && o.bytes+q.size > o.maxBytes) {
		return false
	}
	o.frames = append(o.frames, q)
	o.bytes += q.size
	return true
}

// pending reports whether frames are queued.
func (o *outbox) pending() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames) > 0
}

// take returns every queued frame, in order, leaving spare (emptied by the
// caller) in their place, so that two slices serve a connection's life.
func (o *outbox) take(spare []queuedFrame) []queuedFrame {
	o.mu.Lock()
	frames := o.frames
	o.frames = spare[:0]
	o.bytes = 0
	o.mu.Unlock()
	return frames
}

// maxKeptFrames is the largest slice the writer keeps between bursts.
const maxKeptFrames = 1024
