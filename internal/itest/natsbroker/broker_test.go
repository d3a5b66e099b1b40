package natsbroker_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsbroker"
	"github.com/nats-io/nats.go"
)

// oddRooms are awkward room names (the same list in natsbroker's own
// tests and across a NATS server in internal/itest/natsbroker).
var oddRooms = testkit.OddRooms(natsbroker.MaxPlainRoomLen)

// TestOddRoomNamesAcross sends a binary payload of every byte value to rooms
// with awkward names and checks that it arrives as is, in the right room,
// with its type, and that the body on the wire is the payload itself.
func TestOddRoomNamesAcross(t *testing.T) {
	s := natstest.Start(t, -1)
	a := connectBroker(t, s.ClientURL(), natsbroker.Options{Prefix: "t.odd"})
	b, _ := newBrokerOn(t, s.ClientURL(), natsbroker.Options{Prefix: "t.odd"})
	attach(t, a)
	rec := attach(t, b)
	for _, room := range oddRooms {
		if err := b.Subscribe(room); err != nil {
			t.Fatalf("Subscribe(%q): %v", room, err)
		}
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}

	// A raw subscriber sees the wire format.
	raw := dialNATS(t, s.ClientURL())
	wire, err := raw.SubscribeSync("t.odd.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}

	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	// Text must be UTF-8: every ASCII byte, NUL included, and some wide runes.
	text := []byte(string(payload[:128]) + "é€😀\u202e")
	for i, room := range oddRooms {
		typ, data := websocket.BinaryMessage, payload
		if i%2 == 1 {
			typ, data = websocket.TextMessage, text
		}
		if err := a.Publish(sockets.Envelope{Room: room, Type: typ, Data: data}); err != nil {
			t.Fatalf("Publish(%q): %v", room, err)
		}
	}
	testkit.Eventually(t, "every odd room's message at b", func() bool { return len(rec.got()) == len(oddRooms) })
	for i, env := range rec.got() {
		want := sockets.Envelope{Room: oddRooms[i], Type: websocket.BinaryMessage, Data: payload}
		if i%2 == 1 {
			want.Type, want.Data = websocket.TextMessage, text
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("message %d: got room %q type %d %d bytes, want room %q type %d",
				i, env.Room, env.Type, len(env.Data), want.Room, want.Type)
		}
	}

	m, err := wire.NextMsg(testkit.Wait)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != natsbroker.RoomSubject("t.odd", oddRooms[0]) || !bytes.Equal(m.Data, payload) ||
		m.Header.Get(natsbroker.HeaderInstance) != a.InstanceID() || m.Header.Get(natsbroker.HeaderType) != "2" {
		t.Errorf("on the wire: subject %s, %d bytes, headers %v", m.Subject, len(m.Data), m.Header)
	}
	if st := b.Stats(); st.Received != uint64(len(oddRooms)) || st.Malformed != 0 {
		t.Errorf("b stats %+v", st)
	}
}

func TestMalformedAndForeignMessages(t *testing.T) {
	s := natstest.Start(t, -1)
	b, nc := newBrokerOn(t, s.ClientURL(), natsbroker.Options{})
	rec := attach(t, b)
	if err := b.Subscribe("r"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	subj := natsbroker.RoomSubject("", "r")
	bad := []*nats.Msg{
		{Subject: subj, Data: []byte("no headers")},
		{Subject: subj, Header: nats.Header{natsbroker.HeaderInstance: {"x"}, natsbroker.HeaderType: {"9"}}, Data: []byte("bad type")},
		{Subject: subj, Header: nats.Header{natsbroker.HeaderInstance: {"x"}, natsbroker.HeaderType: {"text"}}, Data: []byte("bad type")},
		// As a text frame it would make every browser in the room fail.
		{Subject: subj, Header: nats.Header{natsbroker.HeaderInstance: {"x"}, natsbroker.HeaderType: {"1"}}, Data: []byte{0xff, 0xfe, 'x'}},
	}
	for _, m := range bad {
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// A well-formed message from another instance, as a sentinel.
	good := &nats.Msg{Subject: subj, Header: nats.Header{natsbroker.HeaderInstance: {"other"}, natsbroker.HeaderType: {"1"}}, Data: []byte("ok")}
	if err := nc.PublishMsg(good); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the sentinel delivered", func() bool { return len(rec.got()) == 1 })
	if got := rec.got()[0]; got.Room != "r" || string(got.Data) != "ok" || got.Type != websocket.TextMessage {
		t.Errorf("delivered %+v", got)
	}
	if st := b.Stats(); st.Malformed != 4 || st.Received != 1 {
		t.Errorf("stats %+v, want 4 malformed, 1 received", st)
	}
}

// TestOwnMessagesSkipped: a shared connection echoes the broker's own
// messages; they are skipped by their instance header.
func TestOwnMessagesSkipped(t *testing.T) {
	s := natstest.Start(t, -1)
	b, _ := newBrokerOn(t, s.ClientURL(), natsbroker.Options{InstanceID: "me"})
	rec := attach(t, b)
	other, _ := newBrokerOn(t, s.ClientURL(), natsbroker.Options{InstanceID: "other"})
	attach(t, other)
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := b.Publish(sockets.Envelope{Type: websocket.TextMessage, Data: []byte("mine")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Conn().Flush(); err != nil { // the server has routed them
		t.Fatal(err)
	}
	if err := other.Publish(sockets.Envelope{Type: websocket.TextMessage, Data: []byte("theirs")}); err != nil {
		t.Fatal(err)
	}
	// The server sends b its 5 echoes before "theirs".
	testkit.Eventually(t, "theirs delivered", func() bool { return len(rec.got()) == 1 })
	if got := rec.got(); string(got[0].Data) != "theirs" {
		t.Errorf("delivered %q", got[0].Data)
	}
	if st := b.Stats(); st.SkippedOwn != 5 || st.Received != 1 || st.Published != 5 {
		t.Errorf("stats %+v, want 5 skipped, 1 received, 5 published", st)
	}
}

func TestSubscribeIdempotentAndConcurrent(t *testing.T) {
	s := natstest.Start(t, -1)
	base := s.NumSubscriptions()
	b, nc := newBrokerOn(t, s.ClientURL(), natsbroker.Options{})
	if err := b.Subscribe("r"); !errors.Is(err, natsbroker.ErrNotAttached) {
		t.Errorf("Subscribe before Attach: %v", err)
	}
	attach(t, b)
	if err := b.Attach(func(sockets.Envelope) {}); !errors.Is(err, natsbroker.ErrAttached) {
		t.Errorf("second Attach: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := b.Subscribe("r"); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "two subscriptions on the server", func() bool { return s.NumSubscriptions() == base+2 })
	for i := 0; i < 3; i++ {
		if err := b.Unsubscribe("r"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Unsubscribe("never"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "one subscription on the server", func() bool { return s.NumSubscriptions() == base+1 })

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				room := fmt.Sprintf("room-%d", (g+i)%10)
				var err error
				if (g+i)%3 == 0 {
					err = b.Unsubscribe(room)
				} else {
					err = b.Subscribe(room)
				}
				if err != nil {
					t.Error(err)
					return
				}
				b.Stats()
				b.Rooms()
			}
		}(g)
	}
	wg.Wait()
	for i := 0; i < 10; i++ {
		if err := b.Unsubscribe(fmt.Sprintf("room-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Rooms(); !reflect.DeepEqual(got, []string{""}) {
		t.Errorf("Rooms() = %q", got)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "back to one subscription on the server", func() bool { return s.NumSubscriptions() == base+1 })
}

func TestClose(t *testing.T) {
	s := natstest.Start(t, -1)
	base := s.NumSubscriptions()

	shared, nc := newBrokerOn(t, s.ClientURL(), natsbroker.Options{})
	attach(t, shared)
	if err := shared.Subscribe("r"); err != nil {
		t.Fatal(err)
	}
	owned := connectBroker(t, s.ClientURL(), natsbroker.Options{})
	attach(t, owned)
	testkit.Eventually(t, "three subscriptions", func() bool { return s.NumSubscriptions() == base+3 })

	for _, b := range []*natsbroker.Broker{shared, owned} {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := b.Publish(sockets.Envelope{Room: "r", Type: websocket.TextMessage}); err == nil {
			t.Error("Publish after Close succeeded")
		}
		if err := b.Subscribe("x"); !errors.Is(err, natsbroker.ErrClosed) {
			t.Errorf("Subscribe after Close: %v", err)
		}
		if err := b.Unsubscribe("r"); err != nil {
			t.Errorf("Unsubscribe after Close: %v", err)
		}
		if st := b.Stats(); st.PublishFailed != 1 || st.Published != 0 || st.Subscriptions != 0 {
			t.Errorf("stats after Close: %+v", st)
		}
	}
	if nc.IsClosed() {
		t.Error("Close closed the caller's connection")
	}
	if !owned.Conn().IsClosed() {
		t.Error("Close left Connect's connection open")
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "no subscriptions left", func() bool { return s.NumSubscriptions() == base })

	if _, err := natsbroker.New(owned.Conn(), natsbroker.Options{}); err == nil {
		t.Error("New over a closed connection succeeded")
	}
}

func TestPublishRefusesOtherTypes(t *testing.T) {
	s := natstest.Start(t, -1)
	b := connectBroker(t, s.ClientURL(), natsbroker.Options{})
	for _, typ := range []int{0, websocket.CloseMessage, websocket.PingMessage, 99} {
		if err := b.Publish(sockets.Envelope{Type: typ, Data: []byte("x")}); err == nil {
			t.Errorf("Publish of type %d succeeded", typ)
		}
	}
	if err := b.Publish(sockets.Envelope{Type: websocket.TextMessage, Data: []byte{0xff, 0xfe}}); err == nil {
		t.Error("Publish of text that is not UTF-8 succeeded")
	}
	if st := b.Stats(); st.PublishFailed != 5 || st.Published != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestPayloadTooLarge: what the server would refuse fails at Publish, and
// is counted, not reported as published.
func TestPayloadTooLarge(t *testing.T) {
	s := natstest.Start(t, -1)
	b := connectBroker(t, s.ClientURL(), natsbroker.Options{})
	big := make([]byte, b.Conn().MaxPayload()+1)
	if err := b.Publish(sockets.Envelope{Room: "r", Type: websocket.BinaryMessage, Data: big}); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("Publish of %d bytes: %v", len(big), err)
	}
	if st := b.Stats(); st.PublishFailed != 1 || st.Published != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSlowHubDrops: messages beyond ReceiveBuffer while the hub is busy are
// dropped by NATS and counted, never delivered late or twice.
func TestSlowHubDrops(t *testing.T) {
	s := natstest.Start(t, -1)
	a := connectBroker(t, s.ClientURL(), natsbroker.Options{})
	attach(t, a)
	nc := dialNATS(t, s.ClientURL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	b, err := natsbroker.New(nc, natsbroker.Options{ReceiveBuffer: 1, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before Close, which waits for deliver
	var mu sync.Mutex
	delivered := 0
	if err := b.Attach(func(sockets.Envelope) {
		<-release
		mu.Lock()
		delivered++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(""); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 0; i < n; i++ {
		if err := a.Publish(sockets.Envelope{Type: websocket.TextMessage, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Conn().Flush(); err != nil { // the server has routed them all
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(testkit.Wait); err != nil && !errors.Is(err, nats.ErrSlowConsumer) {
		t.Fatal(err) // b's client has read them all
	}
	unblock()
	testkit.Eventually(t, "every message delivered or dropped", func() bool {
		st := b.Stats()
		return st.Received+st.Dropped == n
	})
	st := b.Stats()
	if st.Dropped == 0 {
		t.Errorf("nothing dropped with a receive buffer of 1: %+v", st)
	}
	testkit.Eventually(t, "deliveries match Received", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return uint64(delivered) == st.Received
	})
}

// Closing the broker is not a loss of the connection: nothing is logged or
// counted as a disconnect.
func TestCloseIsNotADisconnect(t *testing.T) {
	s := natstest.Start(t, -1)
	logs := &syncBuffer{}
	closed := make(chan struct{})
	b := connectBroker(t, s.ClientURL(), natsbroker.Options{
		Logger:      log.New(logs, "", 0),
		NATSOptions: []nats.Option{nats.ClosedHandler(func(*nats.Conn) { close(closed) })},
	})
	b.Close()
	// nats.go runs its callbacks in order, the disconnect one before this.
	select {
	case <-closed:
	case <-time.After(testkit.Wait):
		t.Fatal("the connection's closed handler did not run")
	}
	if got := logs.String(); strings.Contains(got, "disconnected") {
		t.Errorf("Close logged a disconnect: %q", got)
	}
	if n := b.Stats().Disconnects; n != 0 {
		t.Errorf("Close counted %d disconnects, want 0", n)
	}
}
