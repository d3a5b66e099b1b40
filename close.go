package sockets

import (
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// closeReason is why a connection ends.
type closeReason struct {
	code int    // close code to send; 0 sends no close frame
	text string // close frame text
	err  error  // reported on the errors channel; nil for a normal close
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

// writer to stop and for the client to answer a close frame.
func (o *Options) closeGrace() time.Duration {
	const max = 2 * time.Second
	if o.WriteWait < max {
		return o.WriteWait
	}
	return max
}
