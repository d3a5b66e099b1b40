package main

import (
	"net"
	"testing"
	"time"
)

// recConn records what reaches the socket.
type recConn struct {
	net.Conn
	writes    [][]byte
	deadlines []time.Time
}

func (c *recConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *recConn) SetWriteDeadline(d time.Time) error {
	c.deadlines = append(c.deadlines, d)
	return nil
}

func TestBurstConn(t *testing.T) {
	rc := &recConn{}
	b := &burstConn{Conn: rc}
	now := time.Now()
	long, short := now.Add(10*time.Second), now.Add(time.Second)

	b.hold()
	b.SetWriteDeadline(long)
	b.Write([]byte("one"))
	b.SetWriteDeadline(short) // a pong mid-burst must not shorten it
	b.Write([]byte("pong"))
	b.SetWriteDeadline(long)
	b.Write([]byte("two"))
	if len(rc.writes) != 0 {
		t.Fatalf("wrote %q during the burst", rc.writes)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 1 || string(rc.writes[0]) != "onepongtwo" {
		t.Fatalf("writes = %q, want one write of onepongtwo", rc.writes)
	}
	if len(rc.deadlines) != 1 || !rc.deadlines[0].Equal(long) {
		t.Fatalf("deadlines = %v, want just %v", rc.deadlines, long)
	}

	// Outside a burst, writes go straight through with their deadline.
	b.SetWriteDeadline(short)
	b.Write([]byte("ping"))
	if len(rc.writes) != 2 || string(rc.writes[1]) != "ping" || !rc.deadlines[1].Equal(short) {
		t.Fatalf("writes = %q, deadlines = %v", rc.writes, rc.deadlines)
	}

	// An empty burst writes nothing.
	b.hold()
	if err := b.flush(); err != nil || len(rc.writes) != 2 {
		t.Fatalf("empty burst: %v, writes = %q", err, rc.writes)
	}
}
