package main

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/internal/testkit/natstest"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// forger publishes on the chat's subjects as a rogue process, or an
// instance with a bug, could: what it sends does not come from the store.
// One connection, so that what it publishes arrives in order.
type forger struct {
	t  *testing.T
	nc *nats.Conn
}

func newForger(t *testing.T, url string) *forger {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &forger{t: t, nc: nc}
}

// publish sends data on subject as a broker's text frame.
func (f *forger) publish(subject string, data []byte) {
	f.t.Helper()
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{
		natsbroker.HeaderInstance: {"forger"}, natsbroker.HeaderType: {"1"}}}
	if err := f.nc.PublishMsg(m); err != nil {
		f.t.Fatal(err)
	}
}

// wire sends w on room's subject.
func (f *forger) wire(room string, w wireMsg) {
	f.t.Helper()
	data, err := json.Marshal(w)
	if err != nil {
		f.t.Fatal(err)
	}
	f.publish(natsbroker.RoomSubject("", room), data)
}

// event sends frame, raw JSON, as an event stamped st on room's subject.
func (f *forger) event(room string, st stamp, frame string) {
	f.t.Helper()
	f.wire(room, wireMsg{Kind: kindEvent, stamp: st, Frame: json.RawMessage(frame)})
}

func frameOf(t *testing.T, m Message) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Events and answers that name no instance or this instance, frames that
// are not a message or a status, names and texts a client could not send:
// dropped and counted, never delivered. What is delivered is rebuilt from
// checked fields. Members claimed by an instance never heard of are
// members of a peer like any other.
func TestNATSRefusesForgedAndInvalidEvents(t *testing.T) {
	s, A, B := newCluster(t)
	ann := A.join(t, "r", "ann")
	B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	base := A.app.nats.malformed.Load()

	f := newForger(t, s.ClientURL())
	z := func(seq uint64) stamp { return stamp{Inst: "Z", Seq: seq, Clock: 100 + seq} }
	refused := []struct {
		st    stamp
		frame string
	}{
		{stamp{Seq: 1, Clock: 10}, frameOf(t, msg("nobody", "no instance"))},
		{stamp{Seq: 2, Clock: 10}, frameOf(t, Message{Typ: typMembers, Text: `["x"]`})},
		{stamp{Inst: "A", Seq: 1, Clock: 10}, frameOf(t, status("self", "joined"))}, // A's own id, on A
		{stamp{Inst: "A", Seq: 2, Clock: 10}, frameOf(t, msg("self", "as if from A"))},
		{z(1), frameOf(t, Message{Typ: typMembers, Text: `["x"]`})},
		{z(2), frameOf(t, Message{Typ: typHistory, From: "x", Text: "old"})},
		{z(3), frameOf(t, Message{Typ: typError, Text: "you are banned"})},
		{z(4), `null`},
		{z(5), `"a string"`},
		{z(6), frameOf(t, msg("", "no name"))},
		{z(7), frameOf(t, msg("ann\u200b", "lookalike"))},
		{z(8), frameOf(t, msg(strings.Repeat("n", maxNameRunes+1), "long name"))},
		{z(9), frameOf(t, msg(" pad ", "untrimmed"))},
		{z(10), frameOf(t, msg("zed", " \t "))},
		{z(11), frameOf(t, msg("zed", strings.Repeat("x", maxTextBytes+1)))},
		{z(12), frameOf(t, status("zed", "banned"))},
		{z(13), frameOf(t, status("..", "joined"))},
	}
	for _, e := range refused {
		f.event("r", e.st, e.frame)
	}
	f.wire("r", wireMsg{Kind: kindState, stamp: stamp{Inst: "A", Clock: 10}, Query: "q", To: "B", Members: []string{"self2"}})
	f.wire("r", wireMsg{Kind: kindState, stamp: stamp{Clock: 10}, Query: "q", To: "A", Members: []string{"anon"}})
	f.publish(natsbroker.RoomSubject("", "r"), []byte(`{"typ":"message","from":"raw","text":"not the chat's"}`))
	// The chat publishes nothing to every room: nothing from there reaches
	// a browser, nor is it counted (the relay does not subscribe to it).
	f.publish(natsbroker.RoomSubject("", ""), []byte(frameOf(t, msg("everyone", "hub-wide"))))
	const wantRefused = 17 + 3 // the table, the two answers, the raw frame

	// Accepted: rebuilt (ann's client refuses unknown fields), merged, and
	// the invalid parts of an answer dropped (5 of them).
	f.event("r", z(14), `{"typ":"message","from":"zed","text":"hi","extra":"<script>"}`)
	f.wire("r", wireMsg{Kind: kindState, stamp: stamp{Inst: "Z", Clock: 200}, Query: "none", To: "A",
		Members:  []string{"okay", "bad\u200b", ""},
		Reserved: []string{"r\u202e"},
		History: []histEntry{
			{stamp: stamp{Inst: "Z", Seq: 50, Clock: 150}, From: "zed", Text: "merged"},
			{stamp: stamp{Inst: "Z", Seq: 51, Clock: 151}, From: "", Text: "no name"},
			{stamp: stamp{Seq: 52, Clock: 152}, From: "zed", Text: "no instance"},
		}})
	ann.expect(t, msg("zed", "hi"))
	ann.expect(t, msg("zed", "merged"))
	ann.expect(t, status("okay", "joined"))
	if got := A.app.nats.malformed.Load() - base; got != wantRefused+5 {
		t.Errorf("A counted %d malformed, want %d", got, wantRefused+5)
	}

	// Z is a peer of A now, which it waits for in vain: cat waits
	// PeerTimeout.
	cat := A.join(t, "r", "cat")
	if want := []string{"ann", "bob", "cat", "okay"}; !reflect.DeepEqual(cat.members, want) {
		t.Errorf("cat's members on A: %q, want %q", cat.members, want)
	}
	want := []Message{{Typ: typHistory, From: "zed", Text: "hi"}, {Typ: typHistory, From: "zed", Text: "merged"}}
	if !reflect.DeepEqual(cat.history, want) {
		t.Errorf("cat's history on A: %+v, want %+v", cat.history, want)
	}
}

// An instance known only from its events (it never says hello) is
// forgotten as any silent instance is: the members it claimed leave, and
// their names are free.
func TestNATSForgetsAnInstanceKnownOnlyFromItsEvents(t *testing.T) {
	s, A, B := newCluster(t, func(c *config) { c.HelloInterval = 100 * time.Millisecond })
	ann := A.join(t, "r", "ann")
	B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))

	f := newForger(t, s.ClientURL())
	f.event("r", stamp{Inst: "Z", Seq: 1, Clock: 100}, frameOf(t, status("ghost", "joined")))
	ann.expect(t, status("ghost", "joined"))
	ann.expect(t, status("ghost", "left"))
	awaitNameFree(t, A, "r", "ghost", "joining as ghost on A")
}

// A clock far ahead of the room's, in an event or an answer, is refused:
// the room's clock stays where it was, and what its members say next is
// listed after what came before, on every instance.
func TestNATSRefusesAClockFarAhead(t *testing.T) {
	s, A, B := newCluster(t)
	ann := A.join(t, "r", "ann")
	bob := B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	ann.say(t, "before")
	bob.expect(t, msg("ann", "before"))
	baseA, baseB := A.app.nats.malformed.Load(), B.app.nats.malformed.Load()

	f := newForger(t, s.ClientURL())
	f.event("r", stamp{Inst: "Z", Seq: 1, Clock: math.MaxUint64}, frameOf(t, msg("zed", "poison")))
	f.wire("r", wireMsg{Kind: kindState, stamp: stamp{Inst: "Z", Clock: math.MaxUint64}, Query: "q", To: "A",
		History: []histEntry{{stamp: stamp{Inst: "Z", Seq: 2, Clock: 1000}, From: "zed", Text: "poison 2"}}})
	f.wire("r", wireMsg{Kind: kindState, stamp: stamp{Inst: "Z", Clock: 1000}, Query: "q", To: "A",
		History: []histEntry{{stamp: stamp{Inst: "Z", Seq: 3, Clock: 1 << 40}, From: "zed", Text: "poison 3"}}})
	f.event("r", stamp{Inst: "Z", Seq: 4, Clock: 1000}, frameOf(t, msg("zed", "sentinel")))
	ann.expect(t, msg("zed", "sentinel"))
	bob.expect(t, msg("zed", "sentinel"))
	// A: the event, the first answer, the message of the second; B: the
	// event and the first answer (the history was for A).
	if got := A.app.nats.malformed.Load() - baseA; got != 3 {
		t.Errorf("A counted %d malformed, want 3", got)
	}
	if got := B.app.nats.malformed.Load() - baseB; got != 2 {
		t.Errorf("B counted %d malformed, want 2", got)
	}

	ann.say(t, "new1")
	bob.expect(t, msg("ann", "new1"))
	bob.say(t, "new2")
	ann.expect(t, msg("bob", "new2"))
	// What a joiner would get (a joiner would wait for Z, known now and
	// silent, for PeerTimeout).
	want := []string{"ann: before", "zed: sentinel", "ann: new1", "bob: new2"}
	for _, ts := range []*testServer{A, B} {
		r := ts.app.nats.existing("r")
		r.mu.Lock()
		var got []string
		for _, h := range r.history {
			got = append(got, h.From+": "+h.Text)
		}
		clock := r.clock
		r.mu.Unlock()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("history on %s: %q, want %q", ts.app.nats.id, got, want)
		}
		if clock >= 1<<32 {
			t.Errorf("the room's clock on %s is %d", ts.app.nats.id, clock)
		}
	}
}

// A room's clock at its maximum stays there: this instance's messages are
// still listed after the others, in the order they were said.
func TestNATSLocalClockDoesNotWrap(t *testing.T) {
	srv := natstest.Start(t, -1)
	st := newInstance(t, srv.ClientURL(), "A").app.nats
	release, ok := st.Reserve("r", "ann")
	if !ok {
		t.Fatal("reservation refused")
	}
	defer release()
	r, err := st.room("r")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Say("r", "ann", nil, "one"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.clock = math.MaxUint64 - 1 // as after 2^32 steps of 2^32
	r.mu.Unlock()
	for _, text := range []string{"two", "three", "four"} {
		if err := st.Say("r", "ann", nil, text); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clock != math.MaxUint64 {
		t.Errorf("the room's clock is %d, want %d", r.clock, uint64(math.MaxUint64))
	}
	var texts []string
	for i, h := range r.history {
		texts = append(texts, h.Text)
		if i > 0 && !r.history[i-1].less(h.stamp) {
			t.Errorf("history[%d] %+v is not after %+v", i, h.stamp, r.history[i-1].stamp)
		}
	}
	if want := []string{"one", "two", "three", "four"}; !reflect.DeepEqual(texts, want) {
		t.Errorf("history %q, want %q", texts, want)
	}
}

// The lobby counts only the rooms another instance names validly, with
// members.
func TestNATSLobbyDropsInvalidRoomsFromAnswers(t *testing.T) {
	s, A, _ := newCluster(t)
	f := newForger(t, s.ClientURL())
	st := A.app.nats
	sub, err := f.nc.Subscribe(st.roomsSubject, func(m *nats.Msg) {
		data, _ := json.Marshal(roomsAnswer{Inst: "Z", Rooms: map[string]int{
			"fine": 2, "bad\u200b": 1, "..": 1, "": 1, "empty": 0, "negative": -5}})
		m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	hello, _ := json.Marshal(hello{Inst: "Z", Kind: "alive"})
	if err := f.nc.Publish(st.helloSubject, hello); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyNoError(t, "A knows Z", func() error {
		if n := st.peerCount(); n != 2 {
			return fmt.Errorf("A knows %d peers, want 2", n)
		}
		return nil
	})
	base := st.malformed.Load()
	_, page := get(t, A.URL+"/")
	if want := `<span class="room-name">fine</span> <span class="count">2 people</span>`; !strings.Contains(page, want) {
		t.Errorf("the lobby lacks %s:\n%s", want, page)
	}
	for _, bad := range []string{"bad\u200b", ">..<", "empty", "negative"} {
		if strings.Contains(page, bad) {
			t.Errorf("the lobby lists %q:\n%s", bad, page)
		}
	}
	if got := st.malformed.Load() - base; got != 5 {
		t.Errorf("A counted %d malformed, want 5", got)
	}
}
