package sockets

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// netConn is the hijacked network connection as gorilla sees it.
//
// On the way in, every byte passes a frameCheck first, so that a fault in
// the client's frames comes back to the reader as an error and gorilla
// never answers it on its own. Input is staged in a buffer borrowed from a
// pool only while bytes are waiting: gorilla's own reader buffer is small,
// and an idle connection waits for input holding no buffer at all (see
// readWhenReady). On the way out, a burst of frames leaves in
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

	// dmu guards both deadlines. It is never held across I/O, so the
	// closer can cap a deadline while a read or a write is blocked.
	dmu           sync.Mutex
	readDeadline  deadline
	writeDeadline deadline

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
	return &netConn{Conn: c, raw: rawReader(c)}
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

// readInput reads what is staged, or, with nothing staged, reads from the
// network: straight into p when p is large, else into a staging buffer.
func (nc *netConn) readInput(p []byte) (int, error) {
	if nc.staged == nil {
		if len(p) >= stageSize {
			return nc.Conn.Read(p)
		}
		var err error
		if nc.raw != nil {
			nc.staged, err = readWhenReady(nc.raw, borrowStage, giveBackStage)
		} else {
			nc.staged, err = nc.readBlocking()
		}
		if err != nil {
			return 0, err
		}
		nc.next = 0
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

// deadline is one direction's deadline on the network connection.
//
// A deadline later than the one in force by less than 1/32 of the time
// left until it is not applied: the one in force stays, so a stream of
// frames does not change the runtime's timers for every frame, and an
// operation may time out up to 1/32 of its allowance early. An earlier
// deadline, or none, is always applied. Once capped, no deadline later
// than the cap is applied.
type deadline struct {
	at  time.Time // in force on the connection; zero: none
	cap time.Time // zero: none
}

// next returns the deadline to apply when t is asked for at now, and
// whether it differs from the one in force.
func (d *deadline) next(t, now time.Time) (time.Time, bool) {
	if !d.cap.IsZero() && (t.IsZero() || t.After(d.cap)) {
		t = d.cap
	}
	if t.Equal(d.at) {
		return t, false
	}
	if !t.IsZero() && !d.at.IsZero() && t.After(d.at) && t.Sub(d.at) < t.Sub(now)/32 {
		return t, false
	}
	d.at = t
	return t, true
}

// setDeadline asks for t on one direction, applying it when the rule says.
func (nc *netConn) setDeadline(d *deadline, t, now time.Time, apply func(time.Time) error) error {
	nc.dmu.Lock()
	defer nc.dmu.Unlock()
	t, change := d.next(t, now)
	if !change {
		return nil
	}
	return apply(t)
}

// extendReadDeadline asks for a read deadline of t at now.
func (nc *netConn) extendReadDeadline(t, now time.Time) error {
	return nc.setDeadline(&nc.readDeadline, t, now, nc.Conn.SetReadDeadline)
}

// capDeadlines makes t the latest deadline either direction may have, from
// now on, and applies it where the one in force is later.
func (nc *netConn) capDeadlines(t time.Time) {
	nc.dmu.Lock()
	defer nc.dmu.Unlock()
	for _, d := range []struct {
		dl    *deadline
		apply func(time.Time) error
	}{{&nc.readDeadline, nc.Conn.SetReadDeadline}, {&nc.writeDeadline, nc.Conn.SetWriteDeadline}} {
		d.dl.cap = t
		if t, change := d.dl.next(t, time.Now()); change {
			d.apply(t)
		}
	}
}

// SetWriteDeadline asks for t now, or for the held burst's flush. The
// flush carries every frame of the burst, so it gets the latest deadline
// asked for during the burst (none, if one asked for none).
func (nc *netConn) SetWriteDeadline(t time.Time) error {
	nc.wmu.Lock()
	if nc.holding {
		if !nc.burstDead || (!nc.burstEnd.IsZero() && (t.IsZero() || t.After(nc.burstEnd))) {
			nc.burstEnd = t
		}
		nc.burstDead = true
		nc.wmu.Unlock()
		return nil
	}
	nc.wmu.Unlock()
	return nc.setDeadline(&nc.writeDeadline, t, time.Now(), nc.Conn.SetWriteDeadline)
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
		nc.setDeadline(&nc.writeDeadline, nc.burstEnd, time.Now(), nc.Conn.SetWriteDeadline)
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
