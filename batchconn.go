package sockets

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

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
