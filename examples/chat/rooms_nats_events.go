package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
// the order the instances published. What fails the checks of
// rooms_nats_check.go is dropped and counted.
func (s *natsStore) onEvent(roomName string, data []byte) {
	var w wireMsg
	if err := json.Unmarshal(data, &w); err != nil || (w.Kind != kindEvent && w.Kind != kindState) {
		s.refuse(roomName, "it is not the chat's")
		return
	}
	if reason := s.checkSender(w.Inst); reason != "" {
		s.refuse(roomName, reason)
		return
	}
	if w.Kind == kindState {
		s.onState(roomName, &w)
		return
	}
	var m Message
	if err := json.Unmarshal(w.Frame, &m); err != nil {
		s.refuse(roomName, "an event without a chat frame")
		return
	}
	if reason := checkRemoteFrame(&m); reason != "" {
		s.refuse(roomName, "an event: "+reason)
		return
	}
	r := s.existing(roomName)
	if r == nil {
		s.heardFrom(w.Inst)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Under the room's lock: forgetPeer clears the room after it forgets
	// the instance, so what is recorded of it here is either cleared or
	// recorded for a known instance, which will expire.
	if !s.heardFrom(w.Inst) {
		return // gone lately: see heardFrom
	}
	if len(r.reserved) == 0 {
		return // no one here: the subscription is ending
	}
	if !r.plausibleClockLocked(w.Clock) {
		s.refuse(roomName, fmt.Sprintf("an event's clock %d is more than %d ahead of the room's, %d", w.Clock, maxClockLead, r.clock))
		return
	}
	r.clock = max(r.clock, w.Clock)
	switch m.Typ {
	case typMessage:
		s.applyMessageLocked(roomName, r, histEntry{stamp: w.stamp, From: m.From, Text: m.Text}, false)
	case typStatus:
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
		s.applyLocked(roomName, r, m)
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
		s.applyLocked(roomName, r, Message{Typ: typStatus, From: n, Text: "left"})
	}
	for _, n := range joined {
		s.applyLocked(roomName, r, Message{Typ: typStatus, From: n, Text: "joined"})
	}
}

// applyMessageLocked records a message, unless already known, and delivers
// it. A merged message (from an answer) older than the whole history is
// dropped: it is news to no one here.
func (s *natsStore) applyMessageLocked(roomName string, r *natsRoom, e histEntry, merged bool) {
	id := e.id()
	if _, dup := r.known[id]; dup {
		return
	}
	i := sort.Search(len(r.history), func(i int) bool { return e.less(r.history[i].stamp) })
	if merged && i == 0 && len(r.history) >= s.historySize {
		return
	}
	r.history = insertBounded(r.history, i, e, s.historySize)
	s.rememberLocked(r, id)
	s.applyLocked(roomName, r, Message{Typ: typMessage, From: e.From, Text: e.Text})
}

// rememberLocked records the id of a message applied as the next event.
//
// The history is the room's last messages of all those applied here, so
// what an answer can bring back is either in it, and its id is never
// forgotten, or older than all of it, and dropped (applyMessageLocked).
// Beyond the history, the ids of the messages applied during the last
// 2*logSize events are kept, for copies still on their way (a live event
// behind the answer that carried it); older ones are forgotten once more
// than 4*logSize ids are kept. A room thus knows at most 4*logSize+1 ids;
// a pruning leaves at most historySize+2*logSize+2 (historySize <=
// logSize), so the next one comes logSize-1 messages later at the soonest.
func (s *natsStore) rememberLocked(r *natsRoom, id eventID) {
	r.known[id] = r.applied + 1
	if len(r.known) <= 4*s.logSize {
		return
	}
	inHistory := make(map[eventID]bool, len(r.history))
	for _, h := range r.history {
		inHistory[h.id()] = true
	}
	for k, at := range r.known {
		if at+uint64(2*s.logSize) < r.applied && !inHistory[k] {
			delete(r.known, k)
		}
	}
}

// applyLocked numbers an event, logs it for joiners catching up, and
// delivers it to the local members, as a frame built here from m.
func (s *natsStore) applyLocked(roomName string, r *natsRoom, m Message) {
	frame, err := json.Marshal(m)
	if err != nil {
		return // a Message of strings always encodes
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
	if r.clock < math.MaxUint64 { // at the maximum, it stays there (see maxClockLead)
		r.clock++
	}
	st := stamp{Inst: s.id, Seq: s.seq.Add(1), Clock: r.clock}
	if m.Typ == typMessage {
		// Last in the history, unless the clock is at its maximum.
		e := histEntry{stamp: st, From: m.From, Text: m.Text}
		i := sort.Search(len(r.history), func(i int) bool { return e.less(r.history[i].stamp) })
		r.history = insertBounded(r.history, i, e, s.historySize)
		s.rememberLocked(r, st.id())
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
