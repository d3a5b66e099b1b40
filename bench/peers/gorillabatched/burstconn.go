package main

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// bufPool lends burst buffers; a connection holds one only while a burst is
// being written, so idle connections hold none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuf keeps bursts that grew very large out of the pool.
const maxPooledBuf = 256 << 10

// burstConn is the hijacked net.Conn seen by gorilla. Between hold and flush
// every Write is appended to a pooled buffer instead of reaching the socket,
// and flush sends the whole burst with one write and one write deadline.
// Writes outside a burst (pings, pong replies from the reader goroutine,
// close frames) go straight through. The mutex serialises the buffer
// between the writer goroutine and gorilla's control-frame writes from the
// reader goroutine, so a pong written during a burst leaves with the burst.
type burstConn struct {
	net.Conn

	mu       sync.Mutex
	buf      *[]byte   // non-nil while a burst is held
	deadline time.Time // write deadline asked for during the burst
	burstSet bool      // deadline was set during the current burst
	applied  time.Time // write deadline last set on the socket
}

// Write buffers p while a burst is held and writes it through otherwise.
func (b *burstConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf != nil {
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	if err := b.applyDeadlineLocked(); err != nil {
		return 0, err
	}
	return b.Conn.Write(p)
}

// SetWriteDeadline records d; it reaches the socket with the next real write
// (gorilla sets the deadline before every frame, which would be one syscall
// per frame otherwise). During a burst the latest deadline asked for wins,
// so that a pong queued mid-burst (gorilla gives it one second) does not
// shorten the burst's deadline.
func (b *burstConn) SetWriteDeadline(d time.Time) error {
	b.mu.Lock()
	if b.buf == nil || !b.burstSet || d.IsZero() || (!b.deadline.IsZero() && d.After(b.deadline)) {
		b.deadline = d
		b.burstSet = b.buf != nil
	}
	b.mu.Unlock()
	return nil
}

// SetDeadline sets both deadlines.
func (b *burstConn) SetDeadline(d time.Time) error {
	if err := b.Conn.SetReadDeadline(d); err != nil {
		return err
	}
	return b.SetWriteDeadline(d)
}

func (b *burstConn) applyDeadlineLocked() error {
	if b.deadline.Equal(b.applied) {
		return nil
	}
	if err := b.Conn.SetWriteDeadline(b.deadline); err != nil {
		return err
	}
	b.applied = b.deadline
	return nil
}

// hold starts a burst.
func (b *burstConn) hold() {
	b.mu.Lock()
	if b.buf == nil {
		b.buf = bufPool.Get().(*[]byte)
		b.burstSet = false
	}
	b.mu.Unlock()
}

// flush ends the burst: everything buffered leaves in one write, under the
// deadline last asked for, and the buffer goes back to the pool.
func (b *burstConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := b.buf
	if buf == nil {
		return nil
	}
	b.buf = nil
	var err error
	if len(*buf) > 0 {
		if err = b.applyDeadlineLocked(); err == nil {
			_, err = b.Conn.Write(*buf)
		}
	}
	if cap(*buf) <= maxPooledBuf {
		*buf = (*buf)[:0]
		bufPool.Put(buf)
	}
	return err
}

// hijackWriter wraps an http.ResponseWriter so that Upgrade hijacks a
// burstConn.
type hijackWriter struct {
	http.ResponseWriter
	conn *burstConn
}

// Hijack hijacks the underlying connection and returns it wrapped.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &burstConn{Conn: c}
	return w.conn, brw, nil
}
