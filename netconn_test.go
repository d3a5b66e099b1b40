package sockets

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the write deadlines applied to it.
type deadlineConn struct {
	net.Conn
	applied []time.Time
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.applied = append(d.applied, t)
	return nil
}

// A write deadline moves only when it moves by the slack or more, never
// later than asked by more than the slack, and always when it moves
// earlier or is cleared.
func TestWriteDeadlineSlack(t *testing.T) {
	const slack = time.Second
	d := &deadlineConn{}
	b := newBatchConn(d, slack)
	t0 := time.Now().Add(time.Minute)
	steps := []struct {
		ask     time.Time
		applied bool
	}{
		{t0, true},                                // the first one
		{t0.Add(slack / 2), false},                // within the slack: kept at t0
		{t0.Add(slack - time.Nanosecond), false},  // still within
		{t0.Add(slack), true},                     // moved by the slack
		{t0.Add(slack + time.Millisecond), false}, // within again
		{t0, true},                                // earlier: always applied
		{time.Time{}, true},                       // cleared: always applied
		{t0, true},                                // after a clear: applied
		{t0.Add(10 * slack), true},                // far later
	}
	for i, s := range steps {
		before := len(d.applied)
		b.SetWriteDeadline(s.ask)
		got := len(d.applied) > before
		if got != s.applied {
			t.Fatalf("step %d: asked %v: applied %v, want %v", i, s.ask.Sub(t0), got, s.applied)
		}
		if got && !d.applied[len(d.applied)-1].Equal(s.ask) {
			t.Fatalf("step %d: applied %v, want %v", i, d.applied[len(d.applied)-1], s.ask)
		}
		// The deadline in force is never later than asked, and never
		// earlier by more than the slack.
		inForce := d.applied[len(d.applied)-1]
		if !s.ask.IsZero() && (inForce.After(s.ask) || s.ask.Sub(inForce) >= slack) {
			t.Fatalf("step %d: deadline in force %v for %v asked", i, inForce.Sub(t0), s.ask.Sub(t0))
		}
	}
	if got := b.deadlineCalls.Load(); got != int64(len(d.applied)) {
		t.Errorf("deadlineCalls %d, applied %d", got, len(d.applied))
	}
}

// The deadline asked for during a burst is applied once, at the flush,
// under the same rule.
func TestBurstDeadlineAppliedAtFlush(t *testing.T) {
	d := &deadlineConn{Conn: nopConn{}}
	b := newBatchConn(d, time.Second)
	t0 := time.Now().Add(time.Minute)
	b.hold()
	b.SetWriteDeadline(t0)
	b.Write([]byte("a"))
	b.SetWriteDeadline(t0.Add(time.Millisecond))
	b.Write([]byte("b"))
	if len(d.applied) != 0 {
		t.Fatalf("applied %d deadlines while holding, want 0", len(d.applied))
	}
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	if len(d.applied) != 1 || !d.applied[0].Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("applied %v at the flush, want the last one asked", d.applied)
	}
}

// A pong (deadline one second away, from gorilla's ping handler in the
// reader) written during the writer's burst must not give the whole burst
// its short deadline, whichever comes last.
func TestControlFrameDeadlineDoesNotShortenTheBurst(t *testing.T) {
	t0 := time.Now()
	writer, pong := t0.Add(time.Minute), t0.Add(time.Second)
	for _, order := range [][]time.Time{{writer, pong}, {pong, writer}} {
		d := &deadlineConn{Conn: nopConn{}}
		b := newBatchConn(d, time.Second)
		b.hold()
		for _, dl := range order {
			b.SetWriteDeadline(dl)
			b.Write([]byte("frame"))
		}
		b.release()
		if len(d.applied) != 1 || !d.applied[0].Equal(writer) {
			t.Errorf("asked %v then %v: applied %v, want the writer's", order[0].Sub(t0), order[1].Sub(t0), d.applied)
		}
	}
	// No deadline asked during the burst means none for the flush.
	d := &deadlineConn{Conn: nopConn{}}
	b := newBatchConn(d, time.Second)
	b.hold()
	b.SetWriteDeadline(pong)
	b.SetWriteDeadline(time.Time{})
	b.SetWriteDeadline(writer)
	b.Write([]byte("frame"))
	b.release()
	if len(d.applied) != 1 || !d.applied[0].IsZero() {
		t.Errorf("applied %v, want no deadline", d.applied)
	}
}

// nopConn accepts every write.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
