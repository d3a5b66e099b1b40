package natsbroker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// Stats.PublishLatency times every call to the NATS client's publish, a
// failed one too, and not the messages refused before it: quick ones in
// the low buckets, and one held up by a NATS server that stopped reading
// in a bucket as long as the wait.
func TestPublishLatency(t *testing.T) {
	s := natstest.Start(t, -1)
	proxy := testkit.NewProxy(t, s.Addr().String())
	const writeTimeout = 300 * time.Millisecond
	b := connectBroker(t, "nats://"+proxy.Addr(), natsbroker.Options{NATSOptions: []nats.Option{nats.FlusherTimeout(writeTimeout)}})
	attach(t, b)

	const n = 100
	for i := 0; i < n; i++ {
		if err := b.Publish(sockets.Envelope{Room: "r", Type: websocket.TextMessage, Data: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
	}
	st := b.Stats()
	if st.PublishLatency.Count != n || st.Published != n {
		t.Fatalf("after %d publishes: latency count %d, published %d", n, st.PublishLatency.Count, st.Published)
	}
	if st.PublishLatency.Sum <= 0 {
		t.Errorf("latency sum %v after %d publishes", st.PublishLatency.Sum, n)
	}
	var sum uint64
	for _, c := range st.PublishLatency.Buckets {
		sum += c
	}
	if sum != n {
		t.Errorf("buckets add up to %d, want %d", sum, n)
	}

	// Refused before the client: not timed.
	b.Publish(sockets.Envelope{Room: "r", Type: websocket.PingMessage})
	// Refused by the client: timed.
	big := make([]byte, b.Conn().MaxPayload()+1)
	if err := b.Publish(sockets.Envelope{Room: "r", Type: websocket.BinaryMessage, Data: big}); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("oversized publish: %v", err)
	}
	if st := b.Stats(); st.PublishLatency.Count != n+1 || st.PublishFailed != 2 {
		t.Errorf("after two refused publishes: latency count %d (want %d), failed %d (want 2)",
			st.PublishLatency.Count, n+1, st.PublishFailed)
	}

	// A stalled server: some call waits for the write timeout.
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	before := b.Stats().PublishLatency
	proxy.Stall()
	p := startPublishing(b)
	p.awaitStuck(t, 100*time.Millisecond)
	testkit.Eventually(t, "a stalled publish timed", func() bool { return slowCalls(b.Stats().PublishLatency, before, 100*time.Millisecond) > 0 })
	proxy.Cut()
	p.end(t)
	after := b.Stats().PublishLatency
	longest := time.Duration(p.longest.Load())
	bounds := natsbroker.LatencyBounds()
	for i := len(after.Buckets) - 1; i > 0; i-- {
		if after.Buckets[i] != before.Buckets[i] {
			// The slowest call timed lasted more than its bucket's lower
			// bound, and no more than the test saw from outside.
			if bounds[i-1] >= longest {
				t.Errorf("a call timed in the bucket above %v, but the longest call seen lasted %v", bounds[i-1], longest)
			}
			break
		}
	}
	if d := after.Sum - before.Sum; d < 100*time.Millisecond {
		t.Errorf("latency sum grew by %v over a stall of more than 100ms", d)
	}
}

// slowCalls counts the calls in now, not in before, that took more than d
// (a bucket bound).
func slowCalls(now, before natsbroker.Latency, d time.Duration) uint64 {
	var n uint64
	for i, bound := range natsbroker.LatencyBounds() {
		if bound >= d {
			n += now.Buckets[i+1] - before.Buckets[i+1]
		}
	}
	return n
}
