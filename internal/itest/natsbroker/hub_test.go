package natsbroker_test

import (
	"reflect"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// TestHubsAcrossInstances links two apps, each with its hub and its own
// NATS connection, through one NATS server. Instance A uses Connect (no
// echo), instance B uses New over a connection that echoes, so both ways
// of not delivering twice are exercised.
func TestHubsAcrossInstances(t *testing.T) {
	s := natstest.Start(t, -1)
	base := s.NumSubscriptions()
	bA := connectBroker(t, s.ClientURL(), natsbroker.Options{InstanceID: "A"})
	bB, _ := newBrokerOn(t, s.ClientURL(), natsbroker.Options{InstanceID: "B"})
	A := newInstance(t, "A", bA)
	B := newInstance(t, "B", bB)
	// Each hub listens to messages for every room from the start.
	testkit.Eventually(t, "a subscription to every room per instance", func() bool { return s.NumSubscriptions() == base+2 })

	a1 := A.dial(t, "a1", "r")
	b1 := B.dial(t, "b1", "r")
	a2 := A.dial(t, "a2", "other")
	b2 := B.dial(t, "b2", "other")
	// The hub counts a member before it subscribes the broker.
	for _, b := range []*natsbroker.Broker{bA, bB} {
		testkit.Eventually(t, b.InstanceID()+" subscribed to both rooms", func() bool {
			return reflect.DeepEqual(b.Rooms(), []string{"", "other", "r"})
		})
	}
	testkit.Eventually(t, "six subscriptions on the server", func() bool { return s.NumSubscriptions() == base+6 })

	// A sender gets its own message once (locally), the other instance's
	// member gets it once.
	a1.send(t, "hello from A")
	a1.expect(t, "hello from A")
	b1.expect(t, "hello from A")
	// B answers only after it got A's message, so a copy of A's message
	// coming back to A would reach a1 before B's answer.
	b1.send(t, "hello from B")
	b1.expect(t, "hello from B")
	a1.expect(t, "hello from B")
	// Likewise, A's answer comes after any echo of B's message to B.
	a1.send(t, "again from A")
	a1.expect(t, "again from A")
	b1.expect(t, "again from A")
	testkit.Eventually(t, "B skipped its own echoed message", func() bool { return bB.Stats().SkippedOwn == 1 })

	// Rooms stay isolated: "other" hears nothing of "r", and the reverse.
	a2.send(t, "in other")
	a2.expect(t, "in other")
	b2.expect(t, "in other")
	b1.send(t, "last in r")
	b1.expect(t, "last in r")
	a1.expect(t, "last in r")

	// A message for every room reaches every member of both instances once.
	if err := A.hub.PublishAll(websocket.TextMessage, []byte("to all from A")); err != nil {
		t.Fatal(err)
	}
	if err := B.hub.PublishAll(websocket.TextMessage, []byte("to all from B")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a1, a2, b1, b2} {
		got := map[string]int{c.next(t): 1}
		got[c.next(t)]++
		if want := map[string]int{"to all from A": 1, "to all from B": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s got %v, want %v", c.name, got, want)
		}
	}
	// Nothing else is pending: the next message of each is a fresh one.
	a2.send(t, "sentinel")
	for _, c := range []*client{a2, b2} {
		c.expect(t, "sentinel")
	}
	b1.send(t, "sentinel r")
	for _, c := range []*client{b1, a1} {
		c.expect(t, "sentinel r")
	}

	// Subscriptions follow the first join and the last leave.
	a3 := A.dial(t, "a3", "r")
	if got := bA.Rooms(); !reflect.DeepEqual(got, []string{"", "other", "r"}) {
		t.Errorf("after a second member: A subscribed to %q", got)
	}
	a1.close()
	testkit.Eventually(t, "a1 left r", func() bool { return A.hub.Count("r") == 1 })
	if got := bA.Rooms(); !reflect.DeepEqual(got, []string{"", "other", "r"}) {
		t.Errorf("with one member left: A subscribed to %q", got)
	}
	if n := s.NumSubscriptions(); n != base+6 {
		t.Errorf("with one member left: %d subscriptions on the server, want %d", n, base+6)
	}
	a3.close()
	testkit.Eventually(t, "A unsubscribed from r", func() bool { return reflect.DeepEqual(bA.Rooms(), []string{"", "other"}) })
	testkit.Eventually(t, "five subscriptions on the server", func() bool { return s.NumSubscriptions() == base+5 })

	// Now the server does not even send A the messages for r.
	receivedBefore := bA.Stats().Received
	publishedB := bB.Stats().Published
	b1.send(t, "r without A")
	b1.expect(t, "r without A")
	// The hub delivers locally before it publishes: wait for the publish,
	// lest it happen after A subscribes again below.
	testkit.Eventually(t, "B published", func() bool { return bB.Stats().Published == publishedB+1 })
	b2.send(t, "other still shared")
	b2.expect(t, "other still shared")
	a2.expect(t, "other still shared")
	if got := bA.Stats().Received - receivedBefore; got != 1 {
		t.Errorf("A received %d messages, want 1 (only the one for other)", got)
	}

	// And a new first member subscribes again.
	a4 := A.dial(t, "a4", "r")
	testkit.Eventually(t, "A subscribed to r again", func() bool { return s.NumSubscriptions() == base+6 })
	b1.send(t, "r with A again")
	b1.expect(t, "r with A again")
	a4.expect(t, "r with A again")

	stA, stB := bA.Stats(), bB.Stats()
	t.Logf("A: %+v", stA)
	t.Logf("B: %+v", stB)
	if stA.PublishFailed != 0 || stB.PublishFailed != 0 || stA.SkippedOwn != 0 || stA.Malformed+stB.Malformed != 0 {
		t.Errorf("unexpected counters: A %+v, B %+v", stA, stB)
	}
}
