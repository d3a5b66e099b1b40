package main

import (
	"encoding/json"
	"errors"
	"sort"

	"github.com/gorilla/websocket"

	"github.com/macaron-contrib/sockets"
)

type eventID struct {
	inst string
	seq  uint64
}

// stamp is an event's identity and place in the room's order.
type stamp struct {
	Inst  string `json:"i"`
	Seq   uint64 `json:"s"`
	Clock uint64 `json:"c"`
}

func (s stamp) id() eventID { return eventID{s.Inst, s.Seq} }

func (s stamp) less(o stamp) bool {
	if s.Clock != o.Clock {
		return s.Clock < o.Clock
	}
	if s.Inst != o.Inst {
		return s.Inst < o.Inst
	}
	return s.Seq < o.Seq
}

// histEntry is a message in a room's history.
type histEntry struct {
	stamp
	From string `json:"f"`
	Text string `json:"t"`
}

// Kinds of wireMsg.
const (
	kindEvent = "ev" // an event, to be delivered
	kindState = "st" // an instance's answer to a state query
)

// wireMsg is what instances send each other on a room's subject, as the
// body of the broker's messages.
type wireMsg struct {
	Kind string `json:"k"`
	stamp
	Frame json.RawMessage `json:"fr,omitempty"` // kindEvent: the frame, as members get it

	// kindState: the answer of instance Inst to query Query of To.
	Query    string      `json:"q,omitempty"`
	To       string      `json:"to,omitempty"`
	Members  []string    `json:"m,omitempty"`
	Reserved []string    `json:"r,omitempty"`
	History  []histEntry `json:"h,omitempty"`
}

// onEvent handles what another instance sent on a room's subject: an event
// or a state answer. It runs on the broker's single delivery goroutine, in
// the order the instances published.
func (s *natsStore) onEvent(roomName string, data []byte) {
	var w wireMsg
	if err := json.Unmarshal(data, &w); err != nil || (w.Kind != kindEvent && w.Kind != kindState) {
		if s.malformed.Add(1) == 1 {
			s.log.Printf("chat: dropping a message from NATS for room %q that is not the chat's (logged once)", roomName)
		}
		return
	}
	if w.Kind == kindState {
		s.onState(roomName, &w)
		return
	}
	var m Message
	if err := json.Unmarshal(w.Frame, &m); err != nil {
		s.malformed.Add(1)
		return
	}
	r := s.existing(roomName)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reserved) == 0 {
		return // no one here: the subscription is ending
	}
	r.clock = max(r.clock, w.Clock)
	switch {
	case w.Inst == "":
		s.applyLocked(roomName, r, m, w.Frame) // not a chat event: deliver only
	case m.Typ == typMessage:
		s.applyMessageLocked(roomName, r, histEntry{stamp: w.stamp, From: m.From, Text: m.Text}, false, w.Frame)
	case m.Typ == typStatus:
		names := r.remote[w.Inst]
		in := names[m.From]
		switch m.Text {
		case "joined":
			if in {
				return
			}
			if names == nil {
				names = make(map[string]bool)
				r.remote[w.Inst] = names
			}
			names[m.From] = true
		case "left":
			if !in {
				return
			}
			delete(names, m.From)
			if len(names) == 0 {
				delete(r.remote, w.Inst)
			}
		}
		s.applyLocked(roomName, r, m, w.Frame)
	default:
		s.applyLocked(roomName, r, m, w.Frame)
	}
}

// replacePresenceLocked sets what inst has present in the room, telling
// the local members about the difference.
func (s *natsStore) replacePresenceLocked(roomName string, r *natsRoom, inst string, members []string) {
	old := r.remote[inst]
	now := make(map[string]bool, len(members))
	for _, n := range members {
		now[n] = true
	}
	var left, joined []string
	for n := range old {
		if !now[n] {
			left = append(left, n)
		}
	}
	for n := range now {
		if !old[n] {
			joined = append(joined, n)
		}
	}
	if len(now) == 0 {
		delete(r.remote, inst)
	} else {
		r.remote[inst] = now
	}
	sort.Strings(left)
	sort.Strings(joined)
	for _, n := range left {
		s.applyLocked(roomName, r, Message{Typ: typStatus, From: n, Text: "left"}, nil)
	}
	for _, n := range joined {
		s.applyLocked(roomName, r, Message{Typ: typStatus, From: n, Text: "joined"}, nil)
	}
}

// applyMessageLocked records a message, unless already known, and delivers
// it. A merged message (from an answer) older than the whole history is
// dropped: it is news to no one here.
func (s *natsStore) applyMessageLocked(roomName string, r *natsRoom, e histEntry, merged bool, frame []byte) {
	id := e.id()
	if _, dup := r.known[id]; dup {
		return
	}
	i := sort.Search(len(r.history), func(i int) bool { return e.less(r.history[i].stamp) })
	if merged && i == 0 && len(r.history) >= s.historySize {
		return
	}
	r.history = insertBounded(r.history, i, e, s.historySize)
	r.known[id] = r.applied + 1
	if len(r.known) > 4*s.logSize { // forget ids no copy of which can still be on its way
		for k, at := range r.known {
			if at+uint64(2*s.logSize) < r.applied {
				delete(r.known, k)
			}
		}
	}
	s.applyLocked(roomName, r, Message{Typ: typMessage, From: e.From, Text: e.Text}, frame)
}

// applyLocked numbers an event, logs it for joiners catching up, and
// delivers it to the local members.
func (s *natsStore) applyLocked(roomName string, r *natsRoom, m Message, frame []byte) {
	if frame == nil {
		frame, _ = json.Marshal(m)
	}
	r.applied++
	r.log.push(event{seq: r.applied, msg: m})
	s.relay.deliverLocal(roomName, frame)
}

// publishLocked stamps, records and publishes an event of this instance to
// the room's members except c, here and on the other instances.
func (s *natsStore) publishLocked(roomName string, r *natsRoom, except *sockets.Conn, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	r.clock++
	st := stamp{Inst: s.id, Seq: s.seq.Add(1), Clock: r.clock}
	if m.Typ == typMessage {
		r.history = insertBounded(r.history, len(r.history), histEntry{stamp: st, From: m.From, Text: m.Text}, s.historySize)
		r.known[st.id()] = r.applied + 1
	}
	r.applied++
	r.log.push(event{seq: r.applied, msg: m})
	s.relay.stage(roomName, st)
	defer s.relay.unstage(roomName)
	err = s.hub.PublishExcept(roomName, except, websocket.TextMessage, data)
	var other *otherInstancesError
	if errors.As(err, &other) {
		// The local members have it; the others miss it (the broker counts
		// and logs that), until a resync merges it into their history.
		return nil
	}
	return err
}
