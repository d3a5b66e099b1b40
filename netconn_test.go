package sockets

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the write deadlines applied to it.
type deadlineConn struct {
	net.Conn
	applied []time.Time // write deadlines
	read    time.Time
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.applied = append(d.applied, t)
	return nil
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.read = t
	return nil
}

// A deadline later than the one in force by less than 1/32 of the time
// left until it is kept; an earlier one, none, or one that moves by more
// is applied; a cap bounds them all. The time left is measured from now,
// so a deadline in force that has passed is always replaced: a
// one-second control-frame deadline, 1.5 s old, must not stay for the
// next pong (it killed connections whose client pinged every few seconds).
func TestDeadlineRule(t *testing.T) {
	now := time.Unix(1000, 0)
	minute := now.Add(time.Minute)
	steps := []struct {
		name    string
		now     time.Time
		ask     time.Time
		applied bool
		inForce time.Time
	}{
		{"first", now, minute, true, minute},
		{"later by under 1/32 of a minute", now, minute.Add(time.Second), false, minute},
		{"later by 1/32 of the time left", now, minute.Add(2 * time.Second), true, minute.Add(2 * time.Second)},
		{"earlier", now, minute, true, minute},
		{"none", now, time.Time{}, true, time.Time{}},
		{"after none", now, minute, true, minute},
		{"one second, asked at once", now, now.Add(time.Second), true, now.Add(time.Second)},
		{"one second, asked 0.5 s later", now.Add(500 * time.Millisecond), now.Add(1500 * time.Millisecond), true, now.Add(1500 * time.Millisecond)},
		{"one second, asked after the last passed", now.Add(3 * time.Second), now.Add(4 * time.Second), true, now.Add(4 * time.Second)},
		{"one second, 10 ms later: kept", now.Add(3*time.Second + 10*time.Millisecond), now.Add(4*time.Second + 10*time.Millisecond), false, now.Add(4 * time.Second)},
	}
	var d deadline
	for _, s := range steps {
		applied := d.due(s.ask, s.now)
		if applied != s.applied || !d.at.Equal(s.inForce) {
			t.Errorf("%s: applied %v (in force %v), want applied %v in force %v",
				s.name, applied, d.at.Sub(now), s.applied, s.inForce.Sub(now))
		}
		if !s.ask.IsZero() && d.at.After(s.ask) {
			t.Errorf("%s: in force %v, later than asked %v", s.name, d.at.Sub(now), s.ask.Sub(now))
		}
		if !s.ask.IsZero() && s.ask.Sub(d.at) > s.ask.Sub(s.now)/32 {
			t.Errorf("%s: in force %v, earlier than asked %v by more than 1/32 of the time left", s.name, d.at.Sub(now), s.ask.Sub(now))
		}
	}
}

// Once the closing handshake caps the deadlines, the reader and the writer
// cannot move them later.
func TestCappedDeadlinesStand(t *testing.T) {
	d := &deadlineConn{Conn: nopConn{}}
	nc := newNetConn(d)
	nc.writeWait = time.Minute
	soon := time.Now().Add(time.Second)
	nc.capDeadlines(soon)
	nc.extendReadDeadline(time.Now().Add(time.Hour), time.Now())
	nc.SetWriteDeadline(time.Time{})
	nc.SetWriteDeadline(time.Now().Add(time.Hour))
	if len(d.applied) != 1 || !d.applied[0].Equal(soon) {
		t.Errorf("write deadlines applied after the cap: %v, want only the cap", d.applied)
	}
	if !d.read.Equal(soon) {
		t.Errorf("read deadline %v, want the cap", d.read)
	}
}

// The deadline asked for during a burst is applied once, at the flush,
// under the same rule.
func TestBurstDeadlineAppliedAtFlush(t *testing.T) {
	d := &deadlineConn{Conn: nopConn{}}
	b := newNetConn(d)
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

// A pong (deadline one second away) written during the writer's burst must not give the whole burst
// its short deadline, whichever comes last.
func TestControlFrameDeadlineDoesNotShortenTheBurst(t *testing.T) {
	t0 := time.Now()
	writer, pong := t0.Add(time.Minute), t0.Add(time.Second)
	for _, order := range [][]time.Time{{writer, pong}, {pong, writer}} {
		d := &deadlineConn{Conn: nopConn{}}
		b := newNetConn(d)
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
	b := newNetConn(d)
	b.SetWriteDeadline(writer)
	d.applied = nil
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
