package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
)

// roomStore is everything the chat remembers about its rooms: which names
// are taken, who is present, and the recent messages. It also orders each
// room's events: whatever it records it publishes, under the room's own
// lock, so that a joiner's view (history, members, then live events) has no
// gap and no duplicate.
//
// memoryStore keeps one process's rooms in memory. natsStore (rooms_nats.go)
// is the store of a chat running on several instances linked by NATS.
type roomStore interface {
	// Reserve claims name in room until release is called. ok is false
	// when the name is taken. Enter, Say and Leave may only be called for
	// a reserved name.
	Reserve(room, name string) (release func(), ok bool)
	// Enter delivers, through send, the room's history (typ "history",
	// oldest first), then its members (typ "members", the joiner
	// included), then whatever happened in the room meanwhile (typ
	// "message" and "status"), and finally joins c to the room and tells
	// the others. send may block: no lock is held while it runs. Enter
	// returns errBehind when the connection cannot catch up with the room.
	Enter(room, name string, c *sockets.Conn, send func(*Message)) error
	// Say records a message from name and publishes it to the room's
	// members except c, the sender's own connection.
	Say(room, name string, c *sockets.Conn, text string) error
	// Leave takes name and c out of the room and tells the others.
	Leave(room, name string, c *sockets.Conn) error
	// Rooms lists the rooms that have members, busiest first.
	Rooms() []roomInfo
}

// roomInfo is a room as the lobby lists it.
type roomInfo struct {
	Name    string
	Members int
}

// errBehind: the room moved on faster than the joiner could be sent what it
// missed. The connection should retry later.
var errBehind = errors.New("the room is too busy to catch up with, try again")

// fanout is the part of *sockets.Hub that a memoryStore uses.
type fanout interface {
	Join(room string, c *sockets.Conn) error
	Leave(room string, c *sockets.Conn)
	PublishExcept(room string, except *sockets.Conn, messageType int, data []byte) error
}

// memoryStore is a roomStore for one process.
type memoryStore struct {
	hub         fanout
	historySize int // messages kept per room
	logSize     int // events kept per room for joiners catching up
	maxIdle     int // rooms with no one in them whose history is kept

	mu    sync.Mutex // guards rooms; taken before any room's lock
	rooms map[string]*room
}

// Limits of a memoryStore.
const (
	defaultHistorySize = 50
	defaultLogSize     = 256
	defaultMaxIdle     = 256
	// catchUpRounds bounds how many times Enter sends a joiner what it
	// missed before giving up: each round means the room moved on while
	// the previous round was being sent.
	catchUpRounds = 16
)

func newMemoryStore(hub fanout, historySize int) *memoryStore {
	return &memoryStore{
		hub:         hub,
		historySize: historySize,
		logSize:     max(defaultLogSize, historySize),
		maxIdle:     defaultMaxIdle,
		rooms:       make(map[string]*room),
	}
}

// room is one room's state. Every event (a message, a join, a leave) gets
// the next sequence number and is published while mu is held, so the
// sequence numbers order the room's publications.
//
// A room no one holds a reservation in (idle) keeps only its history, for
// whoever comes back: the log is for joiners on their way in, and there
// are none.
type room struct {
	mu       sync.Mutex
	reserved map[string]bool // names taken, present or on their way in
	present  map[string]bool // names that entered and have not left
	history  ring[Message]   // the last messages (typ "message"), oldest first
	log      ring[event]     // the last events, for joiners catching up; empty when idle
	seq      uint64          // sequence number of the last event
	idle     time.Time       // when the last reservation was released
}

type event struct {
	seq uint64
	msg Message
}

func (s *memoryStore) Reserve(roomName, name string) (func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomName]
	if r == nil {
		r = &room{reserved: make(map[string]bool), present: make(map[string]bool),
			history: newRing[Message](s.historySize), log: newRing[event](s.logSize)}
		s.rooms[roomName] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved[name] {
		return nil, false
	}
	r.reserved[name] = true
	var once sync.Once
	return func() { once.Do(func() { s.release(roomName, r, name) }) }, true
}

// release frees name, and forgets the rooms that stayed empty the longest
// when too many are empty.
func (s *memoryStore) release(roomName string, r *room, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
}

// idleLocked releases what a room no one holds a reservation in does not
// need: the log (no joiner is on its way in: every Enter holds a
// reservation) and the storage of its maps of names. It keeps the history
// and the sequence number. r.mu is held.
func (r *room) idleLocked() {
	r.log.reset()
	r.reserved = make(map[string]bool)
	r.present = make(map[string]bool)
}

// evictIdleLocked drops the oldest empty rooms beyond maxIdle. The caller
// holds s.mu.
func (s *memoryStore) evictIdleLocked() { evictIdle(s.rooms, s.maxIdle) }

// idleSince reports whether the room has no reservation, and since when.
func (r *room) idleSince() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle, len(r.reserved) == 0
}

// idler is a room as evictIdle sees it.
type idler interface {
	idleSince() (time.Time, bool)
}

// evictIdle forgets the rooms that stayed empty the longest, keeping at
// most maxIdle empty ones. Reservations are only released under the
// store's lock, which the caller holds, so idle times are stable.
func evictIdle[R idler](rooms map[string]R, maxIdle int) {
	type idleRoom struct {
		name  string
		since time.Time
	}
	var idle []idleRoom
	for name, r := range rooms {
		if since, empty := r.idleSince(); empty {
			idle = append(idle, idleRoom{name, since})
		}
	}
	if len(idle) <= maxIdle {
		return
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].since.Before(idle[j].since) })
	for _, r := range idle[:len(idle)-maxIdle] {
		delete(rooms, r.name)
	}
}

// room returns the state of a room in which the caller holds a reservation
// (so the room cannot be evicted meanwhile).
func (s *memoryStore) room(name string) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return nil, fmt.Errorf("room %q: no reservation", name)
	}
	return r, nil
}

func (s *memoryStore) Enter(roomName, name string, c *sockets.Conn, send func(*Message)) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}

	// The snapshot is taken under the lock and sent without it: send
	// blocks on the client.
	r.mu.Lock()
	history := r.history.appendTo(nil)
	members := r.memberNames(name)
	cursor := r.seq
	r.mu.Unlock()

	for i := range history {
		m := history[i]
		m.Typ = typHistory
		send(&m)
	}
	list, _ := json.Marshal(members)
	send(&Message{Typ: typMembers, Text: string(list)})

	// Catch up with what happened since the snapshot, then join while
	// holding the lock, when nothing new has happened: every later event
	// reaches c through the hub, none of the earlier ones does.
	for round := 0; ; round++ {
		r.mu.Lock()
		if r.seq == cursor {
			defer r.mu.Unlock()
			if err := s.hub.Join(roomName, c); err != nil {
				s.hub.Leave(roomName, c)
				return err
			}
			r.present[name] = true
			return s.publishLocked(roomName, r, c, Message{Typ: typStatus, From: name, Text: "joined"})
		}
		missed, ok := r.since(cursor)
		cursor = r.seq
		r.mu.Unlock()
		if !ok || round == catchUpRounds {
			return errBehind
		}
		for i := range missed {
			send(&missed[i])
		}
	}
}

func (s *memoryStore) Say(roomName, name string, c *sockets.Conn, text string) error {
	r, err := s.room(roomName)
	if err != nil {
		return err
	}
	m := Message{Typ: typMessage, From: name, Text: text}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history.push(m)
	return s.publishLocked(roomName, r, c, m)
}

func (s *memoryStore) Leave(roomName, name string, c *sockets.Conn) error {
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

// publishLocked numbers m, logs it for joiners catching up, and publishes
// it to the room's members except c. r.mu is held.
func (s *memoryStore) publishLocked(roomName string, r *room, except *sockets.Conn, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	r.seq++
	r.log.push(event{seq: r.seq, msg: m})
	return s.hub.PublishExcept(roomName, except, websocket.TextMessage, data)
}

func (s *memoryStore) Rooms() []roomInfo {
	s.mu.Lock()
	var out []roomInfo
	for name, r := range s.rooms {
		r.mu.Lock()
		if n := len(r.present); n > 0 {
			out = append(out, roomInfo{Name: name, Members: n})
		}
		r.mu.Unlock()
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Members != out[j].Members {
			return out[i].Members > out[j].Members
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// memberNames returns the names present plus the joiner's, sorted.
func (r *room) memberNames(joiner string) []string {
	names := make([]string, 0, len(r.present)+1)
	for n := range r.present {
		if n != joiner {
			names = append(names, n)
		}
	}
	names = append(names, joiner)
	sort.Strings(names)
	return names
}

// since returns the events after cursor; ok is false when some of them are
// no longer in the log.
func (r *room) since(cursor uint64) (missed []Message, ok bool) {
	return eventsSince(&r.log, cursor)
}

// eventsSince returns the events of log after cursor; ok is false when some
// of them are no longer in it.
func eventsSince(log *ring[event], cursor uint64) (missed []Message, ok bool) {
	n := log.len()
	if n == 0 || log.at(0).seq > cursor+1 {
		return nil, false
	}
	for i := range n {
		if e := log.at(i); e.seq > cursor {
			missed = append(missed, e.msg)
		}
	}
	return missed, true
}
