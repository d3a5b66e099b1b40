package testkit

import (
	"context"
	"net"
	"testing"
	"time"
)

// Serving is a command's serve loop running in the background.
type Serving struct {
	Addr string             // the host:port it listens on
	Stop context.CancelFunc // cancels its context: it should return
	done chan struct{}      // closed when it has returned, with err set
	err  error
}

// Serve calls serve in a goroutine with a context that Stop cancels and a
// listener on 127.0.0.1 at a port of its own. At the end of the test it
// stops serve and waits (within Wait) for it to return.
func Serve(t testing.TB, serve func(context.Context, net.Listener) error) *Serving {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Serving{Addr: ln.Addr().String(), Stop: cancel, done: make(chan struct{})}
	go func() {
		s.err = serve(ctx, ln)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(Wait):
		}
	})
	return s
}

// Wait waits for serve to return, failing the test unless it returns nil
// within Wait.
func (s *Serving) Wait(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("serve returned %v", s.err)
		}
	case <-time.After(Wait):
		t.Fatal("serve did not return")
	}
}

// UnusedAddr returns a 127.0.0.1 address where nothing listens: a port
// that was free a moment ago.
func UnusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
