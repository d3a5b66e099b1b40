package main

import (
	"encoding/json"
	"fmt"
	"log"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// natsStore is the roomStore of a chat that runs on several instances
// sharing one NATS server (or cluster). Each instance keeps, for the rooms it
// has members in, the same state as a memoryStore (names reserved and
// present here, the last messages, a log for joiners catching up) plus what
// it knows of the other instances: their members in the room. Messages and
// statuses reach the members on the other instances through the hub's
// natsbroker; the store sees every one of them on the way in and out (see
// relay), so that it keeps one order per room on this instance, exactly as
// memoryStore does.
//
// # Events
//
// Every event an instance publishes (a message, a join, a leave) carries a
// stamp: the instance's id, a sequence number of its own (increasing over
// the process's life) and the room's Lamport clock (one more than the
// highest clock this instance has seen in the room; see maxClockLead for
// clocks too far ahead). (instance, seq) names
// an event; the history of a room is its last HistorySize messages ordered
// by (clock, instance, seq), which is the same order on every instance and
// agrees with causality: a reply is listed after what it answers. Live
// frames reach the members of an instance in the order the instance gets
// them, which, for events published on different instances at the same
// moment, may differ from one instance to the other (and from the history).
//
// # Joining: history and presence
//
// Reserve claims the name locally, subscribes this instance to the room,
// then asks every instance (a request on PREFIX.chat.state) for its state of
// the room: its members, the names it has reserved (joiners still on their
// way in), and, when this instance's own history may be stale, its history.
// Each instance answers on the room's own subject, through its broker,
// after the events it has already published there: NATS keeps one
// publisher's order, so an answer takes its place in the stream of that
// instance's events, and the presence it carries is replaced at exactly the
// right point; events after it are applied on top. Messages from answers
// are merged into the history by their (instance, seq), so none is listed
// twice. Reserve waits for the instances it knows of (see peers) for at
// most PeerTimeout; an instance that does not answer in time is left out
// (its events still arrive live). A name present or reserved on any
// instance that answered, or present on one known from its events, gets
// 409.
//
// The members a joiner is sent are this instance's and those of the others
// as this instance knows them: from their answers, then from the "joined"
// and "left" statuses they publish.
//
// The history of a room is asked for when this instance has none that is
// known to be current: the room is new here, or was left by its last local
// member (the subscription ended), or NATS reconnected since.
//
// # Peers
//
// Instances say hello on PREFIX.chat.hello when they start, every
// HelloInterval, after a reconnect ("back") and when they close ("bye").
// An instance is also heard of through its events and answers: one not
// known yet becomes known then. An instance that said bye, or has not been
// heard of for 3 intervals while this one is connected, is forgotten: its
// members are shown as having left.
// A newly started instance waits DiscoveryWait (default PeerTimeout) before
// trusting that it knows every peer: until then its queries wait
// PeerTimeout in full.
//
// # Outages and limits
//
// Delivery is at most once (core NATS, see package natsbroker). While NATS
// is down each instance goes on alone: its members chat among themselves,
// Reserve checks names against local knowledge only, the lobby shows local
// counts plus the last known remote ones. Events published meanwhile are
// kept in the NATS client's reconnect buffer and sent after the reconnect
// (they may still be lost); those of the other instances are lost. After a
// reconnect each instance says "back", and every instance asks the others
// again for the state of the rooms it has members in: presence converges
// (members who came or went meanwhile are announced with "joined" and
// "left" statuses) and messages missed are merged into the history and
// sent to the members who missed them, unless older than everything the
// history keeps.
//
// What the other instances send is checked as a client's frames are, and
// frames are rebuilt from what passed: see rooms_nats_check.go.
//
// Two instances admitting the same name in the same room at the same
// instant: each reserves the name before asking the other, so when the
// answers come in time at least one sees the other's reservation and
// refuses; both may refuse. Without answers in time (a slow or partitioned
// peer, an outage) both may admit the name; the room then shows it twice.
type natsStore struct {
	hub         fanout
	relay       *relay
	nc          *nats.Conn
	id          string
	log         *log.Logger
	historySize int
	logSize     int
	maxIdle     int
	timeout     time.Duration // how long a query waits for the other instances
	discovery   time.Duration // how long a new instance waits to know its peers
	helloEvery  time.Duration
	warmUntil   time.Time // until then, peers may be unknown: queries wait the full timeout

	helloSubject, stateSubject, roomsSubject string

	seq     atomic.Uint64 // the last sequence number stamped
	queryID atomic.Uint64
	down    atomic.Bool // NATS disconnected, as the handlers last said

	mu    sync.Mutex // guards rooms; taken before any room's lock
	rooms map[string]*natsRoom

	peerMu  sync.Mutex
	peers   map[string]time.Time // other instances, when last heard of
	gone    map[string]time.Time // instances that said bye or went silent, when
	queries map[string]*query    // state queries waiting for answers

	subs        []*nats.Subscription
	reconnected chan struct{} // the NATS handler's signal to run
	resync      chan struct{}
	stop        chan struct{}
	wg          sync.WaitGroup
	closeOnce   sync.Once
	malformed   atomic.Uint64
}

// natsRoom is one room's state on one instance. Every event applied here,
// published here or received, is numbered (applied) and delivered to the
// local members while mu is held, as in memoryStore. A room with no
// reservation here (idle) keeps its history, and only the ids of the
// messages in it: see idleLocked.
type natsRoom struct {
	mu       sync.Mutex
	reserved map[string]bool            // names taken here, present or on their way in
	present  map[string]bool            // names that entered here and have not left
	remote   map[string]map[string]bool // instance -> names present there
	history  []histEntry                // the last messages, by (clock, instance, seq); cap <= HistorySize
	known    map[eventID]uint64         // messages applied -> applied counter then; see rememberLocked
	log      ring[event]                // the last events applied, for joiners catching up; empty when idle
	applied  uint64                     // number of the last event applied
	clock    uint64                     // Lamport clock
	synced   uint64                     // subscription epoch whose history has been merged
	idle     time.Time
}

func (s *natsStore) roomList() map[string]*natsRoom {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*natsRoom, len(s.rooms))
	for name, r := range s.rooms {
		out[name] = r
	}
	return out
}

// existing returns a room's state, or nil.
func (s *natsStore) existing(name string) *natsRoom {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// room returns the state of a room in which the caller holds a reservation.
func (s *natsStore) room(name string) (*natsRoom, error) {
	if r := s.existing(name); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("room %q: no reservation", name)
}

func (s *natsStore) Reserve(roomName, name string) (func(), bool) {
	s.mu.Lock()
	r := s.rooms[roomName]
	if r == nil {
		r = &natsRoom{reserved: make(map[string]bool), present: make(map[string]bool),
			remote: make(map[string]map[string]bool), known: make(map[eventID]uint64),
			log: newRing[event](s.logSize)}
		s.rooms[roomName] = r
	}
	r.mu.Lock()
	taken := r.reserved[name]
	if !taken {
		r.reserved[name] = true
	}
	r.mu.Unlock()
	s.mu.Unlock()
	if taken {
		return nil, false
	}

	var once sync.Once
	release := func() { once.Do(func() { s.release(roomName, r, name) }) }
	// Subscribed before asking: what the others publish after their
	// answer reaches this instance.
	if err := s.relay.hold(roomName); err != nil {
		s.log.Printf("chat: subscribing to room %q: %v", roomName, err)
	}
	names := s.syncRoom(roomName, r, false)
	r.mu.Lock()
	taken = names[name] || r.remoteHas(name)
	r.mu.Unlock()
	if taken {
		release()
		return nil, false
	}
	return release, true
}

// release frees name, and forgets the rooms that stayed empty the longest
// when too many are empty.
func (s *natsStore) release(roomName string, r *natsRoom, name string) {
	s.mu.Lock()
	r.mu.Lock()
	delete(r.reserved, name)
	empty := len(r.reserved) == 0
	if empty {
		r.idle = time.Now()
		r.idleLocked()
	}
	r.mu.Unlock()
	if empty {
		s.evictIdleLocked()
	}
	s.mu.Unlock()

	if s.relay.unhold(roomName) {
		// Unsubscribed: what is known of the others goes stale.
		r.mu.Lock()
		if len(r.reserved) == 0 {
			clear(r.remote)
		}
		r.mu.Unlock()
	}
}

// idleLocked releases what a room with no reservation here does not need:
// the log (no joiner is on its way in), the storage of the maps of local
// names, and the ids of the messages no longer in the history. The ids of
// those still in it stay known, so that an answer that repeats them does
// not list them twice. Events for the room are ignored until the next
// reservation (see onEvent and onState). r.mu is held.
func (r *natsRoom) idleLocked() {
	r.log.reset()
	r.reserved = make(map[string]bool)
	r.present = make(map[string]bool)
	known := make(map[eventID]uint64, len(r.history))
	for _, h := range r.history {
		if at, ok := r.known[h.id()]; ok {
			known[h.id()] = at
		}
	}
	r.known = known
}

// evictIdleLocked drops the oldest empty rooms beyond maxIdle. The caller
// holds s.mu.
func (s *natsStore) evictIdleLocked() { evictIdle(s.rooms, s.maxIdle) }

// idleSince reports whether the room has no reservation here, and since when.
func (r *natsRoom) idleSince() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle, len(r.reserved) == 0
}

func (s *natsStore) Enter(roomName, name string, c *sockets.Conn, send func(*Message)) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	r.mu.Lock()
	history := make([]Message, len(r.history))
	for i, h := range r.history {
		history[i] = Message{Typ: typHistory, From: h.From, Text: h.Text}
	}
	members := r.memberNames(name)
	cursor := r.applied
	r.mu.Unlock()

	for i := range history {
		send(&history[i])
	}
	list, _ := json.Marshal(members)
	send(&Message{Typ: typMembers, Text: string(list)})

	// As memoryStore.Enter: catch up, then join when nothing new happened.
	for round := 0; ; round++ {
		r.mu.Lock()
		if r.applied == cursor {
			defer r.mu.Unlock()
			if err := s.hub.Join(roomName, c); err != nil {
				s.hub.Leave(roomName, c)
				return err
			}
			r.present[name] = true
			return s.publishLocked(roomName, r, c, Message{Typ: typStatus, From: name, Text: "joined"})
		}
		missed, ok := eventsSince(&r.log, cursor)
		cursor = r.applied
		r.mu.Unlock()
		if !ok || round == catchUpRounds {
			return errBehind
		}
		for i := range missed {
			send(&missed[i])
		}
	}
}

func (s *natsStore) Say(roomName, name string, c *sockets.Conn, text string) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.publishLocked(roomName, r, c, Message{Typ: typMessage, From: name, Text: text})
}

func (s *natsStore) Leave(roomName, name string, c *sockets.Conn) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s.hub.Leave(roomName, c)
	if !r.present[name] {
		return nil
	}
	delete(r.present, name)
	return s.publishLocked(roomName, r, nil, Message{Typ: typStatus, From: name, Text: "left"})
}

// remoteHas reports whether another instance is known to have name present.
func (r *natsRoom) remoteHas(name string) bool {
	for _, names := range r.remote {
		if names[name] {
			return true
		}
	}
	return false
}

// memberNames returns the names present on every instance plus the
// joiner's, sorted, each once.
func (r *natsRoom) memberNames(joiner string) []string {
	set := map[string]bool{joiner: true}
	for n := range r.present {
		set[n] = true
	}
	for _, names := range r.remote {
		for n := range names {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// natsStats is what /debug/vars shows of the NATS side, as "chat_nats".
type natsStats struct {
	Instance  string           `json:"instance"`
	Peers     int              `json:"peers"`
	Malformed uint64           `json:"malformed"`
	Broker    natsbroker.Stats `json:"broker"`
}

func (s *natsStore) stats() natsStats {
	return natsStats{Instance: s.id, Peers: s.peerCount(), Malformed: s.malformed.Load(), Broker: s.relay.b.Stats()}
}
