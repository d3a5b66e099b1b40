package natsbroker_test

import (
	"fmt"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// TestNATSOutage stops the NATS server mid-stream and starts it again on the
// same port. Local delivery goes on meanwhile, cross-instance delivery comes
// back after the reconnect, and the counters tell what was lost.
func TestNATSOutage(t *testing.T) {
	s := natstest.Start(t, -1)
	port := natstest.Port(t, s)
	base := s.NumSubscriptions()
	logA, logB := &syncBuffer{}, &syncBuffer{}
	// A keeps a small reconnect buffer, so that an outage overflows it.
	bA := connectBroker(t, s.ClientURL(), natsbroker.Options{InstanceID: "A", Logger: log.New(logA, "", 0), ReconnectBufSize: 2048})
	bB, _ := newBrokerOn(t, s.ClientURL(), natsbroker.Options{InstanceID: "B", Logger: log.New(logB, "", 0)})
	A := newInstance(t, "A", bA)
	B := newInstance(t, "B", bB)
	a1 := A.dial(t, "a1", "r")
	b1 := B.dial(t, "b1", "r")
	testkit.Eventually(t, "both instances subscribed", func() bool { return s.NumSubscriptions() == base+4 })
	defer func() {
		if t.Failed() {
			t.Logf("A's log:\n%s", logA)
			t.Logf("B's log:\n%s", logB)
		}
	}()

	// B's message of the outage is in B's reconnect buffer, and may reach
	// a1 at any point after the reconnect.
	downAtA := 0
	a1Within := func(d time.Duration) (string, bool) {
		for {
			m, ok := a1.within(d)
			if ok && m == "down on B" {
				downAtA++
				continue
			}
			return m, ok
		}
	}
	sentA := 0 // messages a1 sent, each published by A
	sendA := func(msg string) {
		t.Helper()
		a1.send(t, msg)
		if got, ok := a1Within(testkit.Wait); got != msg { // local delivery
			t.Fatalf("a1: got %q (%v), want %q", got, ok, msg)
		}
		sentA++
	}

	sendA("before")
	b1.expect(t, "before")

	// Outage.
	natstest.Stop(s)
	testkit.Eventually(t, "both brokers saw the disconnect", func() bool {
		return bA.Stats().Disconnects == 1 && bB.Stats().Disconnects == 1
	})
	const down = 60
	pad := strings.Repeat(".", 100)
	for i := 0; i < down; i++ {
		sendA(fmt.Sprintf("down %02d %s", i, pad)) // a1 still gets its own messages
	}
	b1.send(t, "down on B")
	b1.expect(t, "down on B") // and so do B's clients
	testkit.Eventually(t, "A's publishes done", func() bool {
		st := bA.Stats()
		return st.Published+st.PublishFailed == uint64(sentA)
	})
	during := bA.Stats()
	if during.PublishFailed == 0 {
		t.Errorf("no publish failed with a 2 KiB reconnect buffer and %d messages of %d bytes: %+v", down, len(pad), during)
	}
	buffered := during.Published - 1 // "before" was sent before the outage
	if got := logA.String(); !strings.Contains(got, "disconnected from NATS") || !strings.Contains(got, "could not be published") {
		t.Errorf("A's log does not tell about the outage:\n%s", got)
	}

	// The server comes back on the same port.
	s2 := natstest.Start(t, port)
	testkit.Eventually(t, "both brokers reconnected", func() bool {
		return bA.Stats().Reconnects == 1 && bB.Stats().Reconnects == 1
	})
	testkit.Eventually(t, "both instances subscribed again", func() bool { return s2.NumSubscriptions() >= base+4 })

	// A to B resumes: publish until B gets one. Buffered "down" messages
	// may arrive first, if B was back before A flushed its buffer.
	var downAtB []string
	resumed := false
	deadline := time.Now().Add(testkit.Wait)
	for k := 0; !resumed; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("B got nothing from A within %v of the reconnect", testkit.Wait)
		}
		sendA(fmt.Sprintf("after %d", k))
		for {
			m, ok := b1.within(50 * time.Millisecond)
			if !ok {
				break
			}
			switch {
			case strings.HasPrefix(m, "down "):
				downAtB = append(downAtB, m)
			case strings.HasPrefix(m, "after "):
				resumed = true
			default:
				t.Fatalf("b1 got %q", m)
			}
		}
	}

	// B to A resumes too. B's buffered "down on B" may come first.
	resumed = false
	deadline = time.Now().Add(testkit.Wait)
	for k := 0; !resumed; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("A got nothing from B within %v of the reconnect", testkit.Wait)
		}
		m := fmt.Sprintf("back %d", k)
		b1.send(t, m)
		for { // b1's own copy, after any late "after" from A
			got := b1.next(t)
			if got == m {
				break
			}
			if !strings.HasPrefix(got, "after ") {
				t.Fatalf("b1 got %q", got)
			}
		}
		for {
			got, ok := a1Within(50 * time.Millisecond)
			if !ok {
				break
			}
			switch {
			case strings.HasPrefix(got, "back "):
				resumed = true
			default:
				t.Fatalf("a1 got %q", got)
			}
		}
	}

	// A last message from A: once B has it, B has everything from A it
	// will ever get (NATS keeps one publisher's order).
	sendA("final")
	for {
		got := b1.next(t)
		if got == "final" {
			break
		}
		if !strings.HasPrefix(got, "after ") {
			t.Fatalf("b1 got %q before the final message", got)
		}
	}

	stA, stB := bA.Stats(), bB.Stats()
	t.Logf("A: %+v", stA)
	t.Logf("B: %+v", stB)
	t.Logf("A published %d messages: %d handed to NATS (%d of them into the reconnect buffer), %d failed; B received %d of them (%d of the buffered ones); A got B's outage message: %d",
		sentA, stA.Published, buffered, stA.PublishFailed, stB.Received, len(downAtB), downAtA)

	if stA.Published+stA.PublishFailed != uint64(sentA) {
		t.Errorf("A: published %d + failed %d != %d messages sent", stA.Published, stA.PublishFailed, sentA)
	}
	if stA.PublishFailed != during.PublishFailed {
		t.Errorf("A: publishes failed after the reconnect: %d, during the outage %d", stA.PublishFailed, during.PublishFailed)
	}
	if uint64(len(downAtB)) > buffered {
		t.Errorf("B got %d messages from the outage, A buffered only %d", len(downAtB), buffered)
	}
	if stB.Received > stA.Published {
		t.Errorf("B received %d messages, more than A published (%d)", stB.Received, stA.Published)
	}
	if stB.Received >= uint64(sentA) {
		t.Errorf("B received %d of %d messages although %d failed to publish", stB.Received, sentA, stA.PublishFailed)
	}
	if stA.PublishFailed+uint64(len(downAtB)) > down {
		t.Errorf("lost %d + delivered %d outage messages > %d sent", stA.PublishFailed, len(downAtB), down)
	}
	if stB.PublishFailed != 0 {
		t.Errorf("B (8 MiB buffer) failed %d publishes", stB.PublishFailed)
	}
	for _, l := range []*syncBuffer{logA, logB} {
		if got := l.String(); !strings.Contains(got, "disconnected from NATS") || !strings.Contains(got, "reconnected to NATS") {
			t.Errorf("log does not tell about the disconnect and the reconnect:\n%s", got)
		}
	}
}
