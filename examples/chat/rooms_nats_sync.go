package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
)

// stateRequest asks every instance for its state of a room.
type stateRequest struct {
	Query   string `json:"q"`
	From    string `json:"from"`
	Room    string `json:"room"`
	History bool   `json:"history,omitempty"`
}

func (s *natsStore) requestResync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// resyncAll asks the others for the state of every room with local
// reservations, history included.
func (s *natsStore) resyncAll() {
	s.mu.Lock()
	held := make(map[string]*natsRoom)
	for name, r := range s.rooms {
		r.mu.Lock()
		if len(r.reserved) > 0 {
			held[name] = r
		}
		r.mu.Unlock()
	}
	s.mu.Unlock()
	for name, r := range held {
		select {
		case <-s.stop:
			return
		default:
		}
		s.syncRoom(name, r, true)
	}
}

// query is a state query waiting for answers.
type query struct {
	mu     sync.Mutex
	want   map[string]bool // instances yet to answer
	names  map[string]bool // names present or reserved on the instances that answered
	done   chan struct{}
	closed bool
}

func (q *query) answer(inst string, names ...[]string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, list := range names {
		for _, n := range list {
			q.names[n] = true
		}
	}
	delete(q.want, inst)
	if len(q.want) == 0 && !q.closed {
		q.closed = true
		close(q.done)
	}
}

// syncRoom asks the other instances for their state of room, waits for
// their answers (applied as they come, see onState), and returns the names
// present or reserved on those that answered. History is asked for when
// this instance's may be stale, or when force is set.
func (s *natsStore) syncRoom(roomName string, r *natsRoom, force bool) map[string]bool {
	if !s.nc.IsConnected() || s.down.Load() {
		return nil // alone for now: local knowledge only
	}
	epoch := s.relay.epoch(roomName)
	r.mu.Lock()
	withHistory := force || epoch == 0 || r.synced != epoch
	r.mu.Unlock()

	q := &query{want: s.knownPeers(), names: make(map[string]bool), done: make(chan struct{})}
	id := s.id + "." + strconv.FormatUint(s.queryID.Add(1), 10)
	if len(q.want) == 0 {
		q.closed = true
		close(q.done)
	}
	s.peerMu.Lock()
	s.queries[id] = q
	s.peerMu.Unlock()
	defer func() {
		s.peerMu.Lock()
		delete(s.queries, id)
		s.peerMu.Unlock()
	}()

	data, _ := json.Marshal(stateRequest{Query: id, From: s.id, Room: roomName, History: withHistory})
	if err := s.nc.Publish(s.stateSubject, data); err != nil {
		s.log.Printf("chat: asking the other instances about room %q: %v", roomName, err)
		return nil
	}
	complete := s.await(q.done)

	q.mu.Lock()
	names := q.names
	q.names = make(map[string]bool) // late answers write elsewhere
	q.mu.Unlock()
	if complete && withHistory && epoch != 0 {
		r.mu.Lock()
		r.synced = epoch
		r.mu.Unlock()
	}
	return names
}

// await waits for done, at most the peer timeout, and reports whether it
// came. While the store is new, peers not known yet may answer: it waits
// until the end of that period (bounded by the timeout) anyway.
func (s *natsStore) await(done <-chan struct{}) bool {
	start := time.Now()
	end := start.Add(s.timeout)
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return false
	case <-s.stop:
		return false
	}
	if warm := s.warmUntil; warm.After(time.Now()) {
		if end.Before(warm) {
			warm = end
		}
		timer.Reset(time.Until(warm))
		select {
		case <-timer.C:
		case <-s.stop:
			return false
		}
	}
	return true
}

// applyAnswerLocked records another instance's answer for a room: its
// history merged, its members in place of what was known of them. An
// answer whose clock is implausible is refused whole (it still counts as
// the answer to its query).
func (s *natsStore) applyAnswerLocked(roomName string, r *natsRoom, w *wireMsg, history []histEntry, members []string) {
	if !r.plausibleClockLocked(w.Clock) {
		s.refuse(roomName, fmt.Sprintf("an answer's clock %d is more than %d ahead of the room's, %d", w.Clock, maxClockLead, r.clock))
		return
	}
	r.clock = max(r.clock, w.Clock)
	for _, h := range history {
		if !r.plausibleClockLocked(h.Clock) {
			s.refuse(roomName, fmt.Sprintf("an answer's message has a clock %d more than %d ahead of the room's, %d", h.Clock, maxClockLead, r.clock))
			continue
		}
		r.clock = max(r.clock, h.Clock)
		s.applyMessageLocked(roomName, r, h, true)
	}
	s.replacePresenceLocked(roomName, r, w.Inst, members)
}

// onStateRequest answers another instance's query, on the room's subject.
func (s *natsStore) onStateRequest(m *nats.Msg) {
	var req stateRequest
	if json.Unmarshal(m.Data, &req) != nil || req.From == "" || req.From == s.id || checkRoom(req.Room) != "" {
		return
	}
	s.heardFrom(req.From) // answered even if gone lately: it asked
	w := wireMsg{Kind: kindState, stamp: stamp{Inst: s.id}, Query: req.Query, To: req.From}
	r := s.existing(req.Room)
	if r == nil {
		s.publishControl(req.Room, &w)
		return
	}
	// Under the room's lock, as the events it publishes: the answer comes
	// after all of them in the room's stream.
	r.mu.Lock()
	defer r.mu.Unlock()
	w.Clock = r.clock
	for n := range r.reserved {
		if r.present[n] {
			w.Members = append(w.Members, n)
		} else {
			w.Reserved = append(w.Reserved, n)
		}
	}
	sort.Strings(w.Members)
	sort.Strings(w.Reserved)
	if req.History {
		w.History = slices.Clone(r.history)
	}
	s.publishControl(req.Room, &w)
}

// publishControl sends w to the other instances on room's subject. An
// answer too large for NATS loses its oldest messages.
func (s *natsStore) publishControl(room string, w *wireMsg) {
	limit := s.nc.MaxPayload() - 4096
	if limit <= 0 {
		limit = 1<<20 - 4096
	}
	for {
		data, err := json.Marshal(w)
		if err != nil {
			s.log.Printf("chat: encoding an answer for room %q: %v", room, err)
			return
		}
		if int64(len(data)) > limit && len(w.History) > 0 {
			w.History = w.History[max(1, len(w.History)/2):]
			continue
		}
		if err := s.relay.b.Publish(sockets.Envelope{Room: room, Type: websocket.TextMessage, Data: data}); err != nil {
			s.log.Printf("chat: answering about room %q: %v", room, err)
		}
		return
	}
}

// onState applies another instance's answer: its presence replaces what
// was known of it (the answer is in order with its events), and, for the
// instance that asked, its history is merged. onEvent has checked w.Inst;
// names and messages that fail the checks of rooms_nats_check.go are
// dropped and counted, and an answer whose clock is implausible is dropped
// whole.
func (s *natsStore) onState(roomName string, w *wireMsg) {
	members := s.validNames(roomName, w.Members)
	reserved := s.validNames(roomName, w.Reserved)
	var history []histEntry
	if w.To == s.id {
		for _, h := range w.History {
			if reason := checkHistEntry(&h); reason != "" {
				s.refuse(roomName, "an answer's history: "+reason)
				continue
			}
			history = append(history, h)
		}
	}
	r := s.existing(roomName)
	if r == nil {
		s.heardFrom(w.Inst)
	} else {
		r.mu.Lock()
		// Under the room's lock: see onEvent. An answer from an instance
		// gone lately still counts as its answer to the query; its state
		// is not recorded.
		if s.heardFrom(w.Inst) && len(r.reserved) > 0 {
			s.applyAnswerLocked(roomName, r, w, history, members)
		}
		r.mu.Unlock()
	}
	if w.To == s.id {
		s.peerMu.Lock()
		q := s.queries[w.Query]
		s.peerMu.Unlock()
		if q != nil {
			q.answer(w.Inst, members, reserved)
		}
	}
}
