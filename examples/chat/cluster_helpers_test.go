package main

import (
	"fmt"
	"io"
	"log"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/internal/testkit/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// testPeerTimeout is the PeerTimeout of the instances in these tests: long
// enough for a loaded machine under -race. Queries end as soon as every
// known instance has answered, so only an instance that cannot answer costs
// it. The instances do not wait to discover each other: the tests wait
// until they have (newCluster).
const testPeerTimeout = time.Second

func quietLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// newInstance serves a chat app sharing its rooms through the NATS server
// at url, as instance id.
func newInstance(t *testing.T, url, id string, opts ...func(*config)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg := config{
		Logger:        log.New(logs, id+" ", log.Lmicroseconds),
		NATSURL:       url,
		InstanceID:    id,
		PeerTimeout:   testPeerTimeout,
		DiscoveryWait: -1,
		MessageRate:   -1, // the tests send faster than people
		NATSOptions: []nats.Option{ // notice a restarted server quickly
			nats.ReconnectWait(20 * time.Millisecond),
			nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	return serveApp(t, cfg, logs, "instance "+id)
}

// newCluster starts a NATS server and two instances, A and B, that know of
// each other.
func newCluster(t *testing.T, opts ...func(*config)) (*server.Server, *testServer, *testServer) {
	t.Helper()
	s := natstest.Start(t, -1)
	A := newInstance(t, s.ClientURL(), "A", opts...)
	B := newInstance(t, s.ClientURL(), "B", opts...)
	testkit.EventuallyNoError(t, "A and B know of each other", func() error {
		if a, b := A.app.nats.peerCount(), B.app.nats.peerCount(); a != 1 || b != 1 {
			return fmt.Errorf("A knows %d peers, B %d", a, b)
		}
		return nil
	})
	return s, A, B
}

// feed reads a client's frames in the background, for tests that must wait
// for a frame that may or may not come.
type feed struct {
	name   string
	frames chan Message
}

// feed starts reading c; c must not be read otherwise after this. The
// reader ends when the connection does.
func (c *client) feed() *feed {
	f := &feed{name: c.name, frames: make(chan Message, 4096)}
	go func() {
		defer close(f.frames)
		for {
			m, err := c.next()
			if err != nil {
				return
			}
			select {
			case f.frames <- m:
			default: // a test reading nothing more: drop
			}
		}
	}()
	return f
}

// within returns the next frame if one comes within d. It fails the test
// if the connection has ended.
func (f *feed) within(t *testing.T, d time.Duration) (Message, bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m, ok := <-f.frames:
		if !ok {
			t.Fatalf("%s: the connection ended", f.name)
		}
		return m, true
	case <-timer.C:
		return Message{}, false
	}
}

// until reads frames until one satisfies ok, failing after testkit.Wait;
// the frames before it go to skipped, if not nil.
func (f *feed) until(t *testing.T, what string, ok func(Message) bool, skipped func(Message)) {
	t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: %s: not within %v", f.name, what, testkit.Wait)
		}
		m, got := f.within(t, left)
		if !got {
			continue
		}
		if ok(m) {
			return
		}
		if skipped != nil {
			skipped(m)
		}
	}
}
