package sockets

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// netConn is the hijacked network connection as gorilla sees it.
//
// On the way in, every byte passes a frameCheck first, so that a fault in
// the client's frames comes back to the reader as an error and gorilla
// never answers it on its own. gorilla's own reader buffer is small;
// during a flood of messages input is staged in a larger buffer, borrowed
// from a pool only while bytes are waiting (see readInput), so an idle
// connection holds no buffer but gorilla's. On the way out, a burst of frames leaves in
// one write system call: between hold and release, writes are appended to
// a buffer borrowed from a pool, and release writes them at once and gives
// the buffer back, so an idle connection holds none.
//
// Both directions' deadlines go through one rule (see deadline), and the
// closer can cap them so that the closing handshake is bounded.
type netConn struct {
	net.Conn

	// The reader goroutine's: gorilla reads only there.
	check   frameCheck
	readErr error
	raw     syscall.RawConn // nil: input is waited for with a blocking Read
	staged  *[]byte         // input read, not yet passed on; nil when none
	next    int             // where the rest of staged begins
	flooded bool            // the last read filled its buffer
	// readReady is readFD as a func, made once: the poller calls it.
	readReady func(fd uintptr) bool
	rawBuf    *[]byte // readFD's borrowed buffer
	rawN      int     // and what it read
	rawErr    error

	readDeadline  deadline // the reader's
	writeDeadline deadline // the writer's
	writeWait     time.Duration

	// wmu orders writes: the writer's, gorilla's on its behalf, the
	// burst's flush.
	wmu       sync.Mutex
	holding   bool
	buf       *[]byte
	burstEnd  time.Time // the deadline for the held burst's flush
	burstDead bool      // burstEnd was asked for during the burst
	writeErr  error
}

func newNetConn(c net.Conn) *netConn {
	nc := &netConn{Conn: c, raw: rawReader(c)}
	if nc.raw != nil {
		nc.readReady = nc.readFD
	}
	return nc
}

// stageSize is the size of the buffers input is staged in: large enough
// that a flood of small messages costs few system calls.
const stageSize = 4096

var stagePool = sync.Pool{New: func() interface{} {
	b := make([]byte, stageSize)
	return &b
}}

func borrowStage() *[]byte    { return stagePool.Get().(*[]byte) }
func giveBackStage(b *[]byte) { *b = (*b)[:cap(*b)]; stagePool.Put(b) }

// Read passes on input, as far as frameCheck lets it through.
func (nc *netConn) Read(p []byte) (int, error) {
	if nc.readErr != nil {
		return 0, nc.readErr
	}
	n, err := nc.readInput(p)
	ok, fault := nc.check.feed(p[:n])
	if fault != nil {
		nc.readErr = fault
		if ok > 0 {
			return ok, nil
		}
		return 0, fault
	}
	return n, err
}

// readInput passes on what is staged. With nothing staged, it reads from
// the network straight into p: gorilla's small buffer, held anyway, or a
// message's. Only when such a read fills p, so that more is likely
// waiting (a flood of messages), does the next read go through a staging
// buffer, borrowed while it holds bytes, so that a flood costs few system
// calls.
func (nc *netConn) readInput(p []byte) (int, error) {
	if nc.staged == nil {
		if !nc.flooded || len(p) >= stageSize {
			n, err := nc.Conn.Read(p)
			nc.flooded = n == len(p) && n < stageSize
			return n, err
		}
		var err error
		if nc.raw != nil {
			nc.staged, err = nc.readWhenReady()
		} else {
			nc.staged, err = nc.readBlocking()
		}
		if err != nil {
			return 0, err
		}
		nc.next = 0
		nc.flooded = len(*nc.staged) == stageSize
	}
	n := copy(p, (*nc.staged)[nc.next:])
	nc.next += n
	if nc.next == len(*nc.staged) {
		giveBackStage(nc.staged)
		nc.staged = nil
	}
	return n, nil
}

// readBlocking reads into a staging buffer, holding it while it waits.
func (nc *netConn) readBlocking() (*[]byte, error) {
	b := borrowStage()
	n, err := nc.Conn.Read(*b)
	if n == 0 {
		giveBackStage(b)
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	*b = (*b)[:n]
	return b, nil
}

// deadline is one direction's deadline on the network connection, kept by
// the one goroutine that reads (the reader) or writes (the writer).
//
// A deadline later than the one in force by less than 1/32 of the time
// left until it is not applied: the one in force stays, so a stream of
// frames does not change the runtime's timers for every frame, and an
// operation may time out up to 1/32 of its allowance early. An earlier
// deadline, or none, is always applied. Once capped (by end, from any
// goroutine), the cap stands.
type deadline struct {
	at     time.Time // in force on the connection; zero: none
	cap    time.Time // written once, before capped is set
	capped atomic.Bool
}

// due reports whether t, asked for at now, must be applied, and if so
// records it as the one in force.
func (d *deadline) due(t, now time.Time) bool {
	if t.Equal(d.at) {
		return false
	}
	if !t.IsZero() && !d.at.IsZero() && t.After(d.at) && t.Sub(d.at) < t.Sub(now)/32 {
		return false
	}
	d.at = t
	return true
}

// extendReadDeadline asks for a read deadline of t at now; reader only.
func (nc *netConn) extendReadDeadline(t, now time.Time) {
	d := &nc.readDeadline
	if d.capped.Load() || !d.due(t, now) {
		return
	}
	nc.Conn.SetReadDeadline(t)
	if d.capped.Load() { // capped meanwhile: the cap stands
		nc.Conn.SetReadDeadline(d.cap)
	}
}

// applyWriteDeadline asks for a write deadline of t (none: now plus
// writeWait); writer only.
func (nc *netConn) applyWriteDeadline(t time.Time) error {
	d := &nc.writeDeadline
	if d.capped.Load() {
		return nil
	}
	now := time.Now()
	if t.IsZero() && nc.writeWait > 0 {
		t = now.Add(nc.writeWait)
	}
	if !d.due(t, now) {
		return nil
	}
	err := nc.Conn.SetWriteDeadline(t)
	if d.capped.Load() {
		err = nc.Conn.SetWriteDeadline(d.cap)
	}
	return err
}

// capDeadlines makes t the deadline of both directions from now on, for
// the closing handshake; it is called once, from any goroutine.
func (nc *netConn) capDeadlines(t time.Time) {
	for _, d := range [...]*deadline{&nc.readDeadline, &nc.writeDeadline} {
		d.cap = t
		d.capped.Store(true)
	}
	nc.Conn.SetReadDeadline(t)
	nc.Conn.SetWriteDeadline(t)
}

// SetWriteDeadline asks for t now, or for the held burst's flush. gorilla
// asks before every frame: for data frames with no deadline, which stands
// for writeWait from now, and for control frames with the writer's own.
// The flush carries every frame of the burst, so it gets the latest
// deadline asked for during the burst.
func (nc *netConn) SetWriteDeadline(t time.Time) error {
	nc.wmu.Lock()
	if nc.holding {
		if t.IsZero() && nc.writeWait > 0 {
			t = time.Now().Add(nc.writeWait)
		}
		if !nc.burstDead || (!nc.burstEnd.IsZero() && (t.IsZero() || t.After(nc.burstEnd))) {
			nc.burstEnd = t
		}
		nc.burstDead = true
		nc.wmu.Unlock()
		return nil
	}
	nc.wmu.Unlock()
	return nc.applyWriteDeadline(t)
}

const (
	// burstFlushSize makes a long burst flush early, bounding the buffer.
	burstFlushSize = 32 << 10
	// burstKeepSize is the largest buffer returned to the pool.
	burstKeepSize = 64 << 10
)

var burstPool = sync.Pool{New: func() interface{} {
	b := make([]byte, 0, 4096)
	return &b
}}

// Write sends p now, or appends it to the burst's buffer while holding.
func (nc *netConn) Write(p []byte) (int, error) {
	nc.wmu.Lock()
	defer nc.wmu.Unlock()
	if nc.writeErr != nil {
		return 0, nc.writeErr
	}
	if !nc.holding {
		return nc.Conn.Write(p)
	}
	if nc.buf == nil {
		nc.buf = burstPool.Get().(*[]byte)
	}
	*nc.buf = append(*nc.buf, p...)
	if len(*nc.buf) >= burstFlushSize {
		if err := nc.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// hold starts buffering a burst; holding already, it does nothing.
func (nc *netConn) hold() {
	nc.wmu.Lock()
	nc.holding = true
	nc.wmu.Unlock()
}

// release ends a burst and flushes what it buffered.
func (nc *netConn) release() error {
	nc.wmu.Lock()
	defer nc.wmu.Unlock()
	nc.holding = false
	return nc.flushLocked()
}

func (nc *netConn) flushLocked() error {
	if nc.buf == nil {
		return nc.writeErr
	}
	if nc.burstDead {
		nc.applyWriteDeadline(nc.burstEnd)
		nc.burstDead = false
	}
	var err error
	if nc.writeErr == nil && len(*nc.buf) > 0 {
		_, err = nc.Conn.Write(*nc.buf)
	}
	*nc.buf = (*nc.buf)[:0]
	if cap(*nc.buf) <= burstKeepSize {
		burstPool.Put(nc.buf)
	}
	nc.buf = nil
	if err != nil && nc.writeErr == nil {
		nc.writeErr = err
	}
	return nc.writeErr
}
