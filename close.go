package sockets

import (
	"errors"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// closeReason is why a connection ends: the first one given to end wins.
type closeReason struct {
	code int    // the close code to send; 0 sends no close frame
	text string // the close frame's reason (the client's own, when byClient)
	err  error  // the fault, reported on errs; nil for a normal close
	// byClient is set when the client began: its close frame (answered
	// with its code) or its connection gone.
	byClient bool
	// awaitReplies is set when the client closed or failed the
	// connection right after a message: the handler's reply goes first.
	awaitReplies bool
}

// closer is the closer goroutine: the only one that closes the network
// connection. It waits for the first reason to end; for the writer's last
// frames and close frame; for the client's answer to it (the reader reads
// it), all within closeGrace. Then it closes the network connection,
// records how it ended, runs the OnClose hooks and fires done. Late codes
// on disconnect are discarded until the handler returns.
func (c *Conn) closer() {
	defer c.goroutines.Done()
	c.awaitReason()
	c.shutdown()
}

// awaitReason waits until the connection must end. The closer's own
// reasons are the handler's: a code on disconnect, or its return.
func (c *Conn) awaitReason() {
	select {
	case <-c.stop:
	case code := <-c.disconnect:
		c.end(closeReason{code: sendableCode(code)})
	case <-c.handlerDone:
		select {
		case code := <-c.disconnect:
			c.end(closeReason{code: sendableCode(code)})
		default:
			c.end(closeReason{code: websocket.CloseNormalClosure})
		}
	}
}

// shutdown is kept apart from awaitReason, so that an idle connection's
// closer parks with a small stack.
//
//go:noinline
func (c *Conn) shutdown() {
	r := c.why()
	<-c.flushed // within closeGrace: end capped the write deadline
	c.mu.Lock()
	sent := c.closeSent
	c.mu.Unlock()
	switch {
	case !sent, r.byClient:
		// Nothing to wait for: the client began (RFC 6455 §7.1.1: the
		// server closes the TCP connection first).
	case isClosed(c.readerDone):
		c.linger() // the reader stopped at a fault in the client's input
	default:
		<-c.readerDone // it reads the client's answer, within closeGrace
	}
	c.net.Conn.Close()
	<-c.readerDone

	status := r.status(sent)
	c.mu.Lock()
	c.status = status
	c.mu.Unlock()
	if sent {
		c.codeSent = r.code
	}
	if r.byClient {
		c.codeReceived = r.code
	}
	if r.err != nil {
		c.reportError(status)
	}
	c.markGone()
	c.log.infof("%s: closed: %s", c.req.RemoteAddr, loggedError(status))
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

// linger discards what the client sends for a moment after our close
// frame, when nothing reads any more: unread input would turn the close
// into a TCP reset, which can destroy the close frame in flight.
func (c *Conn) linger() {
	c.net.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c.net.Conn, 1<<20))
}

// lingerTime bounds linger.
const lingerTime = 100 * time.Millisecond

// closeGrace bounds the closing handshake: from the reason to end, the
// writer's last frames, the close frame and the client's answer.
func (o *Options) closeGrace() time.Duration {
	const max = 2 * time.Second
	if o.WriteWait < max {
		return o.WriteWait
	}
	return max
}

// closePayload is the close frame for r: the client's code back to it
// (nothing, for a close frame without one), or ours with its reason.
func closePayload(r closeReason) []byte {
	if r.byClient {
		return websocket.FormatCloseMessage(r.code, "")
	}
	return websocket.FormatCloseMessage(r.code, closeFrameText(r.text))
}

// status says how the connection ended, once it has: sent tells whether
// the close frame went out.
func (r closeReason) status(sent bool) *CloseError {
	s := &CloseError{Code: r.code, Reason: r.text, ByClient: r.byClient, Err: r.err}
	if r.code == 0 || !sent && !r.byClient {
		s.Code = websocket.CloseAbnormalClosure
	}
	return s
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

// sendableCode maps codes that must not appear in a close frame (RFC 6455
// §7.4.1: 1004-1006, 1015, and anything outside 1000-4999) to 1011.
func sendableCode(code int) int {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return code
	}
	return websocket.CloseInternalServerErr
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
