package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/nats-io/nats.go"
)

// eventFrom is what instance inst would publish for room r as its event
// number seq: a frame stamped one step past the room's clock here.
func eventFrom(t *testing.T, s *natsStore, room, inst string, seq uint64, m Message) []byte {
	t.Helper()
	r := s.existing(room)
	if r == nil {
		t.Fatalf("no room %q here", room)
	}
	r.mu.Lock()
	clock := r.clock + 1
	r.mu.Unlock()
	frame, _ := json.Marshal(m)
	data, _ := json.Marshal(wireMsg{Kind: kindEvent, stamp: stamp{Inst: inst, Seq: seq, Clock: clock}, Frame: frame})
	return data
}

func helloFrom(inst, kind string) *nats.Msg {
	data, _ := json.Marshal(hello{Inst: inst, Kind: kind})
	return &nats.Msg{Data: data}
}

// Hellos and events travel on different subscriptions, so an instance's
// last "left" event can be handled after its bye. It must not make the
// instance a peer again: every join here would wait PeerTimeout for its
// answer until it expired.
func TestLateEventAfterByeDoesNotBringAnInstanceBack(t *testing.T) {
	_, A, B := newCluster(t)
	ann := A.join(t, "r", "ann")
	B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	s := A.app.nats
	B.app.nats.Close() // no hello of B's own from now on
	s.onHello(helloFrom("B", "bye"))
	if n := s.peerCount(); n != 0 {
		t.Fatalf("after B's bye: %d peers", n)
	}
	s.onEvent("r", eventFrom(t, s, "r", "B", 1000, status("bob", "left")))
	if n := s.peerCount(); n != 0 {
		t.Errorf("a late event made B, which said bye, a peer again (%d peers)", n)
	}
	// A hello brings it back.
	s.onHello(helloFrom("B", "new"))
	if n := s.peerCount(); n != 1 {
		t.Errorf("after B's hello: %d peers, want 1", n)
	}
}

// An instance forgotten for its silence whose event arrives before its
// next hello: the hello still finds it unknown and asks for the rooms'
// state again, which brings its members back.
func TestInstanceBackFromSilenceIsResynced(t *testing.T) {
	_, A, B := newCluster(t)
	A.join(t, "r", "ann")
	B.join(t, "r", "bob")
	s := A.app.nats
	bobHere := func() error {
		r := s.existing("r")
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.remote["B"]["bob"] {
			return errors.New("bob is not shown in r")
		}
		return nil
	}
	testkit.EventuallyNoError(t, "A shows bob", bobHere)
	s.forgetPeer("B") // as expirePeers does after peerExpiry silent intervals
	if bobHere() == nil {
		t.Fatal("bob still shown after B was forgotten")
	}
	s.onEvent("r", eventFrom(t, s, "r", "B", 1000, Message{Typ: typMessage, From: "bob", Text: "still here"}))
	s.onHello(helloFrom("B", "alive"))
	testkit.EventuallyNoError(t, "A shows bob again after B's hello", bobHere)
}
