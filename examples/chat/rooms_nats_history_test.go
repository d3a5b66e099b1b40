package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/macaron-contrib/sockets/internal/testkit/natstest"
)

// remoteInstance plays another instance, Z, on a store's room: it hands
// the store its events as they would come in from NATS, and keeps its own
// history as it would answer a state query.
type remoteInstance struct {
	t          *testing.T
	s          *natsStore
	room, inst string
	seq, clock uint64
	history    []histEntry
}

func (z *remoteInstance) event(m Message) stamp {
	z.t.Helper()
	z.seq++
	z.clock++
	st := stamp{Inst: z.inst, Seq: z.seq, Clock: z.clock}
	frame, err := json.Marshal(m)
	if err != nil {
		z.t.Fatal(err)
	}
	data, err := json.Marshal(wireMsg{Kind: kindEvent, stamp: st, Frame: frame})
	if err != nil {
		z.t.Fatal(err)
	}
	z.s.onEvent(z.room, data)
	return st
}

func (z *remoteInstance) say(text string) {
	st := z.event(msg("zed", text))
	z.history = append(z.history, histEntry{stamp: st, From: "zed", Text: text})
}

// answer hands the store Z's answer to one of its state queries, with Z's
// last n messages.
func (z *remoteInstance) answer(n int) {
	z.t.Helper()
	data, err := json.Marshal(wireMsg{Kind: kindState, stamp: stamp{Inst: z.inst, Clock: z.clock},
		Query: "q", To: z.s.id, History: z.history[len(z.history)-n:]})
	if err != nil {
		z.t.Fatal(err)
	}
	z.s.onEvent(z.room, data)
}

// A room with more joins and leaves than messages: however many events
// came since a message still in the history, an answer that repeats the
// history (as every resync's does, after a NATS blip or a peer's return)
// adds nothing to it and delivers nothing again.
func TestNATSResyncAfterManyStatusesRepeatsNothing(t *testing.T) {
	s, r := storeWithMember(t, "r", "ann")
	z := &remoteInstance{t: t, s: s, room: "r", inst: "Z"}
	for i := range 4 * s.logSize { // as many ids as a room keeps before pruning
		z.say(fmt.Sprintf("m%04d", i))
	}
	for i := range s.logSize + 10 { // over 2*logSize events after them
		z.event(status(fmt.Sprintf("c%d", i), "joined"))
		z.event(status(fmt.Sprintf("c%d", i), "left"))
	}
	z.say("trigger") // one id too many: the room prunes

	r.mu.Lock()
	before := r.applied
	r.mu.Unlock()
	z.answer(s.historySize)

	r.mu.Lock()
	defer r.mu.Unlock()
	if again, _ := eventsSince(&r.log, before); len(again) > 0 {
		t.Errorf("the answer delivered %d messages again, from %+v", len(again), again[0])
	}
	want := z.history[len(z.history)-s.historySize:]
	if len(r.history) != len(want) {
		t.Fatalf("history: %d messages, want %d", len(r.history), len(want))
	}
	for i := range want {
		if r.history[i] != want[i] {
			t.Fatalf("history[%d] = %+v, want %+v", i, r.history[i], want[i])
		}
	}
	if n := len(r.known); n > 4*s.logSize+1 {
		t.Errorf("the room knows %d ids, want at most %d", n, 4*s.logSize+1)
	}
}

// A room where only this instance's members talk keeps its known ids
// within the same bound as one fed by other instances.
func TestNATSKnownIdsOfLocalMessagesAreBounded(t *testing.T) {
	s, r := storeWithMember(t, "r", "ann")
	for i := range 4*s.logSize + 10 {
		if err := s.Say("r", "ann", nil, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, known := r.footprint(); known > 4*s.logSize+1 {
		t.Errorf("the room knows %d ids, want at most %d", known, 4*s.logSize+1)
	}
}

// storeWithMember starts a NATS server and an instance, and reserves name
// in room, for a test that works on the instance's store directly; the
// reservation ends with the test.
func storeWithMember(t *testing.T, room, name string) (*natsStore, *natsRoom) {
	t.Helper()
	srv := natstest.Start(t, -1)
	s := newInstance(t, srv.ClientURL(), "A").app.nats
	release, ok := s.Reserve(room, name)
	if !ok {
		t.Fatal("reservation refused")
	}
	t.Cleanup(release)
	r, err := s.room(room)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}
