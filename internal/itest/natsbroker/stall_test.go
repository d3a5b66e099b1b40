package natsbroker_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// stuckPublisher publishes 64 KiB messages in a loop and tells how long the
// call in progress has been running.
type stuckPublisher struct {
	since   atomic.Int64 // unix nanoseconds the call in progress began; 0 between calls
	longest atomic.Int64 // the longest finished call, in nanoseconds
	stop    chan struct{}
	done    chan struct{}
}

func startPublishing(b *natsbroker.Broker) *stuckPublisher {
	p := &stuckPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	payload := make([]byte, 64<<10)
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			start := time.Now()
			p.since.Store(start.UnixNano())
			b.Publish(sockets.Envelope{Room: "r", Type: websocket.BinaryMessage, Data: payload})
			p.since.Store(0)
			if d := int64(time.Since(start)); d > p.longest.Load() {
				p.longest.Store(d)
			}
		}
	}()
	return p
}

// inCall is how long the call in progress has been running.
func (p *stuckPublisher) inCall() time.Duration {
	if s := p.since.Load(); s != 0 {
		return time.Since(time.Unix(0, s))
	}
	return 0
}

// awaitStuck waits until a call has been running for d.
func (p *stuckPublisher) awaitStuck(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for p.inCall() < d {
		if time.Now().After(deadline) {
			t.Fatalf("no Publish blocked for %v: the stalled server never filled the socket", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// end stops the loop; the proxy must have been cut, so that a blocked
// write fails.
func (p *stuckPublisher) end(t *testing.T) {
	t.Helper()
	close(p.stop)
	select {
	case <-p.done:
	case <-time.After(testkit.Wait):
		t.Fatal("Publish still blocked after the connection was cut")
	}
}

// A NATS server that stops reading (paused, overloaded, a half-open path)
// blocks nats.go's writes. A broker from Connect gives such a write up after
// DefaultWriteTimeout and reconnects, so Publish (and so Hub.Publish) is
// held up for that long at most, not for nats.go's default minute.
func TestStalledServerHoldsPublishUpToTheWriteTimeout(t *testing.T) {
	s := natstest.Start(t, -1)
	proxy := testkit.NewProxy(t, s.Addr().String())
	b := connectBroker(t, "nats://"+proxy.Addr(), natsbroker.Options{})
	attach(t, b)
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	p := startPublishing(b)
	p.awaitStuck(t, 100*time.Millisecond)
	// Watch past the write timeout, and what follows it.
	limit := natsbroker.DefaultWriteTimeout + 1500*time.Millisecond
	watchUntil := time.Now().Add(natsbroker.DefaultWriteTimeout + 2500*time.Millisecond)
	var longest time.Duration
	for time.Now().Before(watchUntil) && longest <= limit {
		longest = max(longest, p.inCall())
		time.Sleep(20 * time.Millisecond)
	}
	proxy.Cut()
	p.end(t)
	longest = max(longest, time.Duration(p.longest.Load()))
	if longest > limit {
		t.Errorf("a Publish was held up %v by a stalled NATS server (write timeout %v)", longest.Round(time.Millisecond), natsbroker.DefaultWriteTimeout)
	}
}

// While a Subscribe waits for the NATS client (whose lock a blocked write
// holds), the broker's own lock is free: Stats and Rooms, and the
// dispatcher, which takes the same lock, do not wait for the NATS server.
func TestBlockedSubscribeDoesNotHoldTheBroker(t *testing.T) {
	s := natstest.Start(t, -1)
	proxy := testkit.NewProxy(t, s.Addr().String())
	b := connectBroker(t, "nats://"+proxy.Addr(), natsbroker.Options{
		NATSOptions: []nats.Option{nats.FlusherTimeout(time.Minute)},
	})
	attach(t, b)
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	p := startPublishing(b)
	p.awaitStuck(t, 300*time.Millisecond)

	subscribing := make(chan struct{})
	subscribed := make(chan struct{})
	go func() {
		close(subscribing)
		b.Subscribe("new room")
		close(subscribed)
	}()
	<-subscribing
	select {
	case <-subscribed:
		t.Fatal("Subscribe returned while a write held the NATS client: the test did not set up the stall")
	case <-time.After(200 * time.Millisecond):
	}
	statsDone := make(chan struct{})
	go func() {
		b.Stats()
		b.Rooms()
		close(statsDone)
	}()
	select {
	case <-statsDone:
	case <-time.After(time.Second):
		t.Error("Stats and Rooms waited for a Subscribe blocked in the NATS client")
	}

	proxy.Cut()
	p.end(t)
	for _, ch := range []chan struct{}{subscribed, statsDone} {
		select {
		case <-ch:
		case <-time.After(testkit.Wait):
			t.Fatal("still blocked after the connection was cut")
		}
	}
}

// Close does not hold up a Subscribe while it waits for the dispatcher: the
// hub's deliver function may itself wait for a goroutine that is calling
// Subscribe (the chat's relay does), and that Subscribe must find the
// broker closed, not wait for Close.
func TestCloseWhileDeliveryWaitsForASubscribe(t *testing.T) {
	s := natstest.Start(t, -1)
	b := connectBroker(t, s.ClientURL(), natsbroker.Options{})
	pub := connectBroker(t, s.ClientURL(), natsbroker.Options{})
	gate := make(chan struct{})
	delivering := make(chan struct{}, 1)
	if err := b.Attach(func(sockets.Envelope) {
		select {
		case delivering <- struct{}{}:
		default:
		}
		<-gate
	}); err != nil {
		t.Fatal(err)
	}
	attach(t, pub)
	if err := b.Subscribe("r"); err != nil {
		t.Fatal(err)
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(sockets.Envelope{Room: "r", Type: websocket.TextMessage, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-delivering:
	case <-time.After(testkit.Wait):
		t.Fatal("nothing delivered")
	}

	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	// Close has begun when the broker refuses as closed: Attach, on a
	// broker already attached, says ErrAttached until then, and changes
	// nothing either way.
	testkit.Eventually(t, "Close to begin", func() bool {
		return errors.Is(b.Attach(func(sockets.Envelope) {}), natsbroker.ErrClosed)
	})
	subscribed := make(chan error, 1)
	go func() {
		err := b.Subscribe("other") // the goroutine the deliver function waits for
		close(gate)
		subscribed <- err
	}()
	select {
	case err := <-subscribed:
		if !errors.Is(err, natsbroker.ErrClosed) {
			t.Errorf("Subscribe during Close: %v, want ErrClosed", err)
		}
	case <-time.After(testkit.Wait):
		close(gate) // let the test end
		t.Fatal("Subscribe waited for Close, which waited for the delivery, which waited for Subscribe")
	}
	select {
	case <-closed:
	case <-time.After(testkit.Wait):
		t.Fatal("Close did not return")
	}
}
