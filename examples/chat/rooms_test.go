package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/macaron-contrib/sockets"
)

// fakeHub records what a memoryStore asks of its hub, in order. It needs
// no connections: the store only passes them through.
type fakeHub struct {
	mu    sync.Mutex
	calls []string
}

func (h *fakeHub) record(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

func (h *fakeHub) Join(room string, _ *sockets.Conn) error {
	h.record("join %s", room)
	return nil
}

func (h *fakeHub) Leave(room string, _ *sockets.Conn) { h.record("leave %s", room) }

func (h *fakeHub) PublishExcept(room string, _ *sockets.Conn, _ int, data []byte) error {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	h.record("publish %s %s %s %s", room, m.Typ, m.From, m.Text)
	return nil
}

func (h *fakeHub) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func reserve(t *testing.T, s *memoryStore, room, name string) {
	t.Helper()
	release, ok := s.Reserve(room, name)
	if !ok {
		t.Fatalf("%s in %s: taken", name, room)
	}
	t.Cleanup(release)
}

// TestEnterCatchesUpWithoutHoldingTheLock has something happen in the room
// while a joiner's snapshot is being sent. The joiner must get it through
// send, exactly once, and be joined to the hub only after.
func TestEnterCatchesUpWithoutHoldingTheLock(t *testing.T) {
	hub := &fakeHub{}
	s := newMemoryStore(hub, 2)
	for _, n := range []string{"ann", "bob", "cat"} {
		reserve(t, s, "r", n)
	}
	if err := s.Enter("r", "bob", nil, func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if err := s.Say("r", "bob", nil, text); err != nil {
			t.Fatal(err)
		}
	}

	var got []Message
	interfere := map[string]func(){
		// While ann gets her snapshot, bob speaks and cat comes in: both
		// take the room's lock, so Enter must not be holding it.
		typMembers: func() {
			if err := s.Say("r", "bob", nil, "four"); err != nil {
				t.Error(err)
			}
			if err := s.Enter("r", "cat", nil, func(*Message) {}); err != nil {
				t.Error(err)
			}
		},
		// And again while she is catching up.
		typStatus: func() {
			if err := s.Say("r", "cat", nil, "five"); err != nil {
				t.Error(err)
			}
		},
	}
	err := s.Enter("r", "ann", nil, func(m *Message) {
		got = append(got, *m)
		if f := interfere[m.Typ]; f != nil {
			delete(interfere, m.Typ)
			f()
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	want := []Message{
		{Typ: typHistory, From: "bob", Text: "two"},
		{Typ: typHistory, From: "bob", Text: "three"},
		{Typ: typMembers, Text: `["ann","bob"]`},
		msg("bob", "four"),
		status("cat", "joined"),
		msg("cat", "five"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ann got\n%+v\nwant\n%+v", got, want)
	}
	calls := hub.log()
	wantTail := []string{"publish r message cat five", "join r", "publish r status ann joined"}
	if len(calls) < 3 || !reflect.DeepEqual(calls[len(calls)-3:], wantTail) {
		t.Errorf("hub calls %q, want them to end with %q", calls, wantTail)
	}
	if rooms := s.Rooms(); !reflect.DeepEqual(rooms, []roomInfo{{"r", 3}}) {
		t.Errorf("rooms: %+v", rooms)
	}
}

func TestEnterGivesUpWhenTooFarBehind(t *testing.T) {
	s := newMemoryStore(&fakeHub{}, 50)
	reserve(t, s, "r", "ann")
	reserve(t, s, "r", "bob")
	err := s.Enter("r", "ann", nil, func(m *Message) {
		if m.Typ == typMembers {
			for i := range s.logSize + 1 { // more than the log keeps
				s.Say("r", "bob", nil, fmt.Sprint(i))
			}
		}
	})
	if err != errBehind {
		t.Fatalf("got %v, want errBehind", err)
	}
	if rooms := s.Rooms(); len(rooms) != 0 {
		t.Errorf("ann is counted in: %+v", rooms)
	}
}

func TestLeaveTellsTheOthers(t *testing.T) {
	hub := &fakeHub{}
	s := newMemoryStore(hub, 50)
	reserve(t, s, "r", "ann")
	if err := s.Enter("r", "ann", nil, func(*Message) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave("r", "ann", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"join r", "publish r status ann joined", "leave r", "publish r status ann left"}
	if got := hub.log(); !reflect.DeepEqual(got, want) {
		t.Errorf("hub calls %q, want %q", got, want)
	}
	if rooms := s.Rooms(); len(rooms) != 0 {
		t.Errorf("rooms after leaving: %+v", rooms)
	}
}

func TestReserveIsExclusiveUntilReleased(t *testing.T) {
	s := newMemoryStore(&fakeHub{}, 50)
	release, ok := s.Reserve("r", "ann")
	if !ok {
		t.Fatal("first reservation refused")
	}
	if _, ok := s.Reserve("r", "ann"); ok {
		t.Fatal("second reservation granted")
	}
	if _, ok := s.Reserve("other", "ann"); !ok {
		t.Fatal("the name is taken in another room")
	}
	release()
	release() // twice is harmless
	if _, ok := s.Reserve("r", "ann"); !ok {
		t.Fatal("reservation refused after release")
	}
}

func TestEmptyRoomsAreForgottenOldestFirst(t *testing.T) {
	s := newMemoryStore(&fakeHub{}, 50)
	s.maxIdle = 2
	for _, room := range []string{"a", "b", "c"} {
		release, _ := s.Reserve(room, "ann")
		s.Say(room, "ann", nil, "hello "+room)
		release()
	}
	s.mu.Lock()
	_, a := s.rooms["a"]
	n := len(s.rooms)
	s.mu.Unlock()
	if a || n != 2 {
		t.Errorf("after 3 rooms emptied with maxIdle 2: a kept %v, %d rooms", a, n)
	}
	// A kept room keeps its history.
	reserve(t, s, "c", "bob")
	var got []Message
	s.Enter("c", "bob", nil, func(m *Message) { got = append(got, *m) })
	if len(got) != 2 || got[0].Text != "hello c" {
		t.Errorf("history of c: %+v", got)
	}
}
