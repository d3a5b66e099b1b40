package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit/natstest"
)

// Each room keeps at most HistorySize messages for joiners and logSize
// events for joiners catching up; a room no one is in keeps only its
// history. Storage is measured as the capacity of what holds the messages,
// which is what stays reachable, whatever the heap does.

// footprint is what a memoryStore's room holds: the capacity of its log
// and its history, and how many messages each keeps.
type footprint struct{ logCap, logLen, histCap, histLen int }

func (r *room) footprint() footprint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return footprint{cap(r.log.buf), r.log.len(), cap(r.history.buf), r.history.len()}
}

func (r *natsRoom) footprint() (f footprint, known int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return footprint{cap(r.log.buf), r.log.len(), cap(r.history), len(r.history)}, len(r.known)
}

// checkBusy checks the footprint of a room that has seen far more than it
// keeps: both full, neither beyond its bound.
func checkBusy(t *testing.T, f footprint, logSize, historySize int) {
	t.Helper()
	if f.logLen != logSize || f.logCap > logSize {
		t.Errorf("log keeps %d events in room for %d, want %d in room for at most %d", f.logLen, f.logCap, logSize, logSize)
	}
	if f.histLen != historySize || f.histCap > historySize {
		t.Errorf("history keeps %d messages in room for %d, want %d in room for at most %d", f.histLen, f.histCap, historySize, historySize)
	}
}

// checkIdle checks the footprint of a room everyone left: its history
// only.
func checkIdle(t *testing.T, f footprint, historySize int) {
	t.Helper()
	if f.logCap != 0 {
		t.Errorf("the log of an empty room keeps room for %d events (%d kept), want none", f.logCap, f.logLen)
	}
	if f.histLen != historySize || f.histCap > historySize {
		t.Errorf("the history of an empty room keeps %d messages in room for %d, want %d in room for at most %d", f.histLen, f.histCap, historySize, historySize)
	}
}

func TestRoomMemoryIsBounded(t *testing.T) {
	const historySize = 50
	s := newMemoryStore(nopHub{}, historySize)
	release, ok := s.Reserve("r", "ann")
	if !ok {
		t.Fatal("reservation refused")
	}
	if err := s.Enter("r", "ann", nil, func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	r, err := s.room("r")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2*s.logSize - 1 {
		if err := s.Say("r", "ann", nil, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	checkBusy(t, r.footprint(), s.logSize, historySize)

	if err := s.Leave("r", "ann", nil); err != nil {
		t.Fatal(err)
	}
	release()
	checkIdle(t, r.footprint(), historySize)

	// Who comes back gets the history, and the room works as before.
	reserve(t, s, "r", "bob")
	var got []Message
	if err := s.Enter("r", "bob", nil, func(m *Message) { got = append(got, *m) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != historySize+1 || got[0].Text != fmt.Sprint(2*s.logSize-1-historySize) || got[historySize].Typ != typMembers {
		t.Errorf("bob got %d frames, starting with %+v, want %d messages from %d then the members", len(got), got[0], historySize, 2*s.logSize-1-historySize)
	}
}

// TestNATSRoomMemoryIsBounded does the same with the NATS store, for the
// messages of its own members and those of another instance.
func TestNATSRoomMemoryIsBounded(t *testing.T) {
	srv := natstest.Start(t, -1)
	A := newInstance(t, srv.ClientURL(), "A")
	s := A.app.nats
	release, ok := s.Reserve("r", "ann")
	if !ok {
		t.Fatal("reservation refused")
	}
	r, err := s.room("r")
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.logSize {
		if err := s.Say("r", "ann", nil, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		// As instance Z's message would come in from NATS.
		frame, _ := json.Marshal(Message{Typ: typMessage, From: "zed", Text: fmt.Sprint(i)})
		data, _ := json.Marshal(wireMsg{Kind: kindEvent, stamp: stamp{Inst: "Z", Seq: uint64(i + 1), Clock: uint64(2*i + 1)}, Frame: frame})
		s.onEvent("r", data)
	}
	f, _ := r.footprint()
	checkBusy(t, f, s.logSize, s.historySize)

	release()
	f, known := r.footprint()
	checkIdle(t, f, s.historySize)
	if known > s.historySize {
		t.Errorf("an empty room knows the ids of %d messages, want at most the %d of its history", known, s.historySize)
	}
}

// nopHub is a hub with no one in it.
type nopHub struct{}

func (nopHub) Join(string, *sockets.Conn) error                       { return nil }
func (nopHub) Leave(string, *sockets.Conn)                            {}
func (nopHub) PublishExcept(string, *sockets.Conn, int, []byte) error { return nil }
