package sockets

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// recordingBroker remembers what a hub told it.
type recordingBroker struct {
	mu         sync.Mutex
	subscribed map[string]bool
	published  []Envelope
	deliver    func(Envelope)
	// failSubscribes is how many of the next Subscribe calls fail.
	failSubscribes int
}

func newRecordingBroker() *recordingBroker {
	return &recordingBroker{subscribed: make(map[string]bool)}
}

func (b *recordingBroker) Attach(deliver func(Envelope)) error { b.deliver = deliver; return nil }
func (b *recordingBroker) Close() error                        { return nil }

func (b *recordingBroker) Publish(env Envelope) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published = append(b.published, env)
	return nil
}

func (b *recordingBroker) Subscribe(room string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failSubscribes > 0 {
		b.failSubscribes--
		return errors.New("broker unavailable")
	}
	b.subscribed[room] = true
	return nil
}

func (b *recordingBroker) Unsubscribe(room string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subscribed, room)
	return nil
}

func (b *recordingBroker) isSubscribed(room string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subscribed[room]
}

func TestHubBrokerFollowsFirstJoinAndLastLeave(t *testing.T) {
	b := newRecordingBroker()
	h := newHub(t, &HubOptions{Broker: b})
	if !b.isSubscribed("") {
		t.Error("hub-wide messages: not subscribed")
	}
	a, c := fakeConn(t, 4), fakeConn(t, 4)
	h.Join("r", a)
	h.Join("r", c)
	if !b.isSubscribed("r") {
		t.Fatal("first join: not subscribed")
	}
	h.Leave("r", a)
	if !b.isSubscribed("r") {
		t.Fatal("a member is left: unsubscribed too early")
	}
	h.Leave("r", c)
	if b.isSubscribed("r") {
		t.Fatal("last leave: still subscribed")
	}
}

// The last member leaves and, before the broker is told, a new member
// joins: the room must end up subscribed. This replays that schedule step
// by step: LeaveAll's bookkeeping, then a whole Join, then LeaveAll's late
// call to the broker.
func TestHubLeaveOvertakenByJoinKeepsTheSubscription(t *testing.T) {
	b := newRecordingBroker()
	h := newHub(t, &HubOptions{Broker: b})
	old, fresh := fakeConn(t, 4), fakeConn(t, 4)
	h.Join("r", old)

	h.mu.Lock()
	emptied := h.leaveLocked("r", old) // LeaveAll, under the lock
	h.mu.Unlock()
	h.Join("r", fresh) // overtakes LeaveAll here
	h.unsubscribe(emptied)

	if !b.isSubscribed("r") {
		t.Error("a member is in the room, but the broker was left unsubscribed")
	}
}

func TestHubBrokerPublishAndDeliver(t *testing.T) {
	b := newRecordingBroker()
	h := newHub(t, &HubOptions{Broker: b})
	sender, local := fakeConn(t, 4), fakeConn(t, 4)
	h.Join("r", sender)
	h.Join("r", local)
	h.PublishExcept("r", sender, 1, []byte("hi"))
	if len(b.published) != 1 || b.published[0].Room != "r" || string(b.published[0].Data) != "hi" {
		t.Errorf("broker got %+v", b.published)
	}
	if n, m := len(queued(sender)), len(queued(local)); n != 0 || m != 1 {
		t.Errorf("local delivery: sender %d, other %d; want 0 and 1", n, m)
	}
	// From another instance: the sender there is not ours to leave out.
	b.deliver(Envelope{Room: "r", Type: 1, Data: []byte("remote")})
	if n, m := len(queued(sender)), len(queued(local)); n != 1 || m != 1 {
		t.Errorf("remote delivery: got %d and %d, want one each", n, m)
	}
}

// A room whose subscription failed on its first Join is subscribed by the
// next Join, not left without messages from other instances until it
// empties.
func TestHubRetriesAFailedSubscribe(t *testing.T) {
	b := newRecordingBroker()
	h := newHub(t, &HubOptions{Broker: b})
	b.failSubscribes = 1
	first, second := fakeConn(t, 4), fakeConn(t, 4)
	if err := h.Join("r", first); err == nil {
		t.Fatal("first Join: the broker failed, but Join reported no error")
	}
	if h.Count("r") != 1 {
		t.Fatal("first Join: the member must be in the room locally despite the broker")
	}
	if got := h.Stats().BrokerErrors; got != 1 {
		t.Errorf("BrokerErrors: got %d, want 1", got)
	}
	if err := h.Join("r", second); err != nil {
		t.Fatalf("second Join: %v", err)
	}
	if !b.isSubscribed("r") {
		t.Error("second Join did not ask the broker again: the room gets nothing from other instances")
	}
	// The same member joining again asks too, while the room is not subscribed.
	h.Leave("r", first)
	h.Leave("r", second)
	b.failSubscribes = 1
	h.Join("s", first)
	h.Join("s", first)
	if !b.isSubscribed("s") {
		t.Error("a repeated Join of the same member did not ask the broker again")
	}
}

// stallingBroker's Unsubscribe blocks until release is closed, as a NATS
// server that stopped reading holds natsbroker's.
type stallingBroker struct {
	recordingBroker
	release chan struct{}
	calls   chan string
}

func (b *stallingBroker) Unsubscribe(room string) error {
	b.calls <- room
	<-b.release
	return b.recordingBroker.Unsubscribe(room)
}

// A connection whose close empties a room tells the broker after done, not
// before: a stalled broker must not hold up done (nor Shutdown).
func TestSlowBrokerDoesNotDelayDone(t *testing.T) {
	b := &stallingBroker{recordingBroker: *newRecordingBroker(), release: make(chan struct{}), calls: make(chan string, 1)}
	h := newHub(t, &HubOptions{Broker: b})
	joined := make(chan struct{})
	doneAt := make(chan time.Time, 1)
	ts := newTestServer(t, Messages(quiet()), func(c *Conn, done <-chan bool) {
		if err := h.Join("r", c); err != nil {
			t.Errorf("join: %v", err)
		}
		close(joined)
		<-done
		doneAt <- time.Now()
	})
	ws := ts.dial(t, nil)
	recv(t, joined, "join")
	start := time.Now()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), timeIn())
	if d := recv(t, doneAt, "done").Sub(start); d > time.Second {
		t.Errorf("done came %v after the client's close, with the broker stalled", d)
	}
	if room := recv(t, b.calls, "the broker's Unsubscribe"); room != "r" {
		t.Errorf("unsubscribed %q, want r", room)
	}
	ts.waitFinished(t, 1)
	close(b.release)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if b.isSubscribed("r") {
		t.Error("the emptied room is still subscribed")
	}
}

// closingBroker reports any call made after Close.
type closingBroker struct {
	recordingBroker
	mu     sync.Mutex
	closed bool
	late   int
}

func (b *closingBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *closingBroker) Unsubscribe(room string) error {
	b.mu.Lock()
	if b.closed {
		b.late++
	}
	b.mu.Unlock()
	return b.recordingBroker.Unsubscribe(room)
}

// Connections that close while the hub closes: Close waits for the broker
// calls already under way, and no call reaches the broker after it.
func TestHubCloseWhileConnectionsClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		b := &closingBroker{recordingBroker: *newRecordingBroker()}
		h := newHub(t, &HubOptions{Broker: b})
		conns := make([]*Conn, 20)
		for i := range conns {
			conns[i] = fakeConn(t, 4)
			h.Join(fmt.Sprintf("room%d", i), conns[i])
		}
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() { defer wg.Done(); c.markGone() }()
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		b.mu.Lock()
		late := b.late
		b.mu.Unlock()
		if late != 0 {
			t.Fatalf("round %d: %d broker calls after Close", round, late)
		}
	}
}
