package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
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
// highest clock this instance has seen in the room). (instance, seq) names
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
// An instance that said bye, or has not been heard of for 3 intervals while
// this one is connected, is forgotten: its members are shown as having left.
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
// local members while mu is held, as in memoryStore.
type natsRoom struct {
	mu       sync.Mutex
	reserved map[string]bool            // names taken here, present or on their way in
	present  map[string]bool            // names that entered here and have not left
	remote   map[string]map[string]bool // instance -> names present there
	history  []histEntry                // the last messages, by (clock, instance, seq)
	known    map[eventID]uint64         // messages applied -> applied counter then
	log      []event                    // the last events applied, for joiners catching up
	applied  uint64                     // number of the last event applied
	clock    uint64                     // Lamport clock
	synced   uint64                     // subscription epoch whose history has been merged
	idle     time.Time
}

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

// stateRequest asks every instance for its state of a room.
type stateRequest struct {
	Query   string `json:"q"`
	From    string `json:"from"`
	Room    string `json:"room"`
	History bool   `json:"history,omitempty"`
}

// hello is what instances say on the hello subject.
type hello struct {
	Inst string `json:"i"`
	Kind string `json:"k"` // "new", "alive", "back" or "bye"
}

// roomsAnswer is an instance's answer to the lobby's question: its members
// per room.
type roomsAnswer struct {
	Inst  string         `json:"i"`
	Rooms map[string]int `json:"rooms"`
}

// Defaults of the NATS store.
const (
	defaultPeerTimeout   = 250 * time.Millisecond
	defaultHelloInterval = 2 * time.Second
	peerExpiry           = 3 // hello intervals without news before a peer is forgotten
)

// newNATSStore connects to NATS and returns the store with its hub.
func newNATSStore(cfg config) (*natsStore, *sockets.Hub, error) {
	s := &natsStore{
		log:         cfg.Logger,
		historySize: cfg.HistorySize,
		logSize:     max(defaultLogSize, cfg.HistorySize),
		maxIdle:     defaultMaxIdle,
		timeout:     cfg.PeerTimeout,
		helloEvery:  cfg.HelloInterval,
		rooms:       make(map[string]*natsRoom),
		peers:       make(map[string]time.Time),
		queries:     make(map[string]*query),
		reconnected: make(chan struct{}, 1),
		resync:      make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	if s.timeout <= 0 {
		s.timeout = defaultPeerTimeout
	}
	switch s.discovery = cfg.DiscoveryWait; {
	case s.discovery == 0:
		s.discovery = s.timeout
	case s.discovery < 0:
		s.discovery = 0
	}
	if s.helloEvery <= 0 {
		s.helloEvery = defaultHelloInterval
	}
	prefix := cfg.NATSPrefix
	if prefix == "" {
		prefix = natsbroker.DefaultPrefix
	}
	s.helloSubject, s.stateSubject, s.roomsSubject = prefix+".chat.hello", prefix+".chat.state", prefix+".chat.rooms"

	natsOpts := append(slices.Clone(cfg.NATSOptions),
		// Called after the broker's own handlers; they only signal.
		nats.DisconnectErrHandler(func(*nats.Conn, error) { s.down.Store(true) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case s.reconnected <- struct{}{}:
			default:
			}
		}),
	)
	b, err := natsbroker.Connect(cfg.NATSURL, natsbroker.Options{
		Prefix:      prefix,
		InstanceID:  cfg.InstanceID,
		Logger:      cfg.Logger,
		NATSOptions: natsOpts,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("chat: no NATS server to share the rooms through (is nats-server running at %s?): %w", cfg.NATSURL, err)
	}
	s.id, s.nc = b.InstanceID(), b.Conn()
	s.relay = &relay{b: b, onEvent: s.onEvent, holds: make(map[string]int), hubWants: make(map[string]bool),
		epochs: make(map[string]uint64), staged: make(map[string]stamp)}
	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: s.relay})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	s.hub = hub
	if err := s.start(); err != nil {
		hub.Close()
		return nil, nil, err
	}
	return s, hub, nil
}

// start subscribes to the store's subjects and says hello.
func (s *natsStore) start() error {
	for subject, handle := range map[string]nats.MsgHandler{
		s.helloSubject: s.onHello,
		s.stateSubject: s.onStateRequest,
		s.roomsSubject: s.onRoomsRequest,
	} {
		sub, err := s.nc.Subscribe(subject, handle)
		if err != nil {
			s.unsubscribe()
			return fmt.Errorf("chat: subscribing to %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	s.warmUntil = time.Now().Add(s.discovery)
	s.sayHello("new")
	s.wg.Add(1)
	go s.run()
	return nil
}

func (s *natsStore) unsubscribe() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	s.subs = nil
}

// Close says goodbye to the other instances and stops the store. The hub,
// closed after, closes the broker and the NATS connection.
func (s *natsStore) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.unsubscribe()
		if s.nc.IsConnected() {
			s.sayHello("bye")
			s.nc.FlushTimeout(time.Second)
		}
	})
	return nil
}

// run says hello periodically, forgets silent peers, and handles
// reconnects and resync requests, until Close.
func (s *natsStore) run() {
	defer s.wg.Done()
	tick := time.NewTicker(s.helloEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			if s.nc.IsConnected() && !s.down.Load() {
				s.sayHello("alive")
				s.expirePeers()
			}
		case <-s.reconnected:
			// What other instances did meanwhile is unknown: history is
			// stale, peers get a new chance, and presence is asked again.
			s.relay.renew()
			s.touchPeers()
			s.down.Store(false)
			s.sayHello("back")
			s.resyncAll()
		case <-s.resync:
			s.resyncAll()
		}
	}
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

func (s *natsStore) sayHello(kind string) {
	data, _ := json.Marshal(hello{Inst: s.id, Kind: kind})
	s.nc.Publish(s.helloSubject, data) // fails only when closed
}

func (s *natsStore) onHello(m *nats.Msg) {
	var h hello
	if json.Unmarshal(m.Data, &h) != nil || h.Inst == "" || h.Inst == s.id {
		return
	}
	if h.Kind == "bye" {
		s.forgetPeer(h.Inst)
		return
	}
	known := s.sawPeer(h.Inst)
	if h.Kind == "new" || h.Kind == "back" {
		s.sayHello("alive") // so that it knows of this instance at once
	}
	if h.Kind == "back" || (!known && h.Kind == "alive") {
		s.requestResync() // it may have missed events, or been forgotten
	}
}

// sawPeer notes that inst is alive and reports whether it was known.
func (s *natsStore) sawPeer(inst string) bool {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	_, known := s.peers[inst]
	s.peers[inst] = time.Now()
	return known
}

func (s *natsStore) touchPeers() {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	for p := range s.peers {
		s.peers[p] = time.Now()
	}
}

// knownPeers returns the other instances known now.
func (s *natsStore) knownPeers() map[string]bool {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	out := make(map[string]bool, len(s.peers))
	for p := range s.peers {
		out[p] = true
	}
	return out
}

func (s *natsStore) expirePeers() {
	cutoff := time.Now().Add(-peerExpiry * s.helloEvery)
	var gone []string
	s.peerMu.Lock()
	for p, seen := range s.peers {
		if seen.Before(cutoff) {
			gone = append(gone, p)
		}
	}
	s.peerMu.Unlock()
	for _, p := range gone {
		s.log.Printf("chat: instance %s has not been heard of for %v: its members are shown as gone", p, peerExpiry*s.helloEvery)
		s.forgetPeer(p)
	}
}

// forgetPeer drops an instance and tells the local members that its members
// left.
func (s *natsStore) forgetPeer(inst string) {
	s.peerMu.Lock()
	delete(s.peers, inst)
	s.peerMu.Unlock()
	for name, r := range s.roomList() {
		r.mu.Lock()
		s.replacePresenceLocked(name, r, inst, nil)
		r.mu.Unlock()
	}
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
			remote: make(map[string]map[string]bool), known: make(map[eventID]uint64)}
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

// evictIdleLocked drops the oldest empty rooms beyond maxIdle.
func (s *natsStore) evictIdleLocked() {
	var idle []string
	for name, r := range s.rooms {
		r.mu.Lock()
		if len(r.reserved) == 0 {
			idle = append(idle, name)
		}
		r.mu.Unlock()
	}
	if len(idle) <= s.maxIdle {
		return
	}
	sort.Slice(idle, func(i, j int) bool { return s.rooms[idle[i]].idle.Before(s.rooms[idle[j]].idle) })
	for _, name := range idle[:len(idle)-s.maxIdle] {
		delete(s.rooms, name)
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

// onStateRequest answers another instance's query, on the room's subject.
func (s *natsStore) onStateRequest(m *nats.Msg) {
	var req stateRequest
	if json.Unmarshal(m.Data, &req) != nil || req.From == "" || req.From == s.id || checkRoom(req.Room) != "" {
		return
	}
	s.sawPeer(req.From)
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

// onState applies another instance's answer: its presence replaces what
// was known of it (the answer is in order with its events), and, for the
// instance that asked, its history is merged.
func (s *natsStore) onState(roomName string, w *wireMsg) {
	if w.Inst == "" || w.Inst == s.id {
		return
	}
	s.sawPeer(w.Inst)
	if r := s.existing(roomName); r != nil {
		r.mu.Lock()
		if len(r.reserved) > 0 {
			r.clock = max(r.clock, w.Clock)
			if w.To == s.id {
				for _, h := range w.History {
					s.applyMessageLocked(roomName, r, h, true, nil)
				}
			}
			s.replacePresenceLocked(roomName, r, w.Inst, w.Members)
		}
		r.mu.Unlock()
	}
	if w.To == s.id {
		s.peerMu.Lock()
		q := s.queries[w.Query]
		s.peerMu.Unlock()
		if q != nil {
			q.answer(w.Inst, w.Members, w.Reserved)
		}
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
	r.history = slices.Insert(r.history, i, e)
	if n := len(r.history); n > s.historySize {
		r.history = slices.Clone(r.history[n-s.historySize:])
	}
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
	r.log = appendBounded(r.log, event{seq: r.applied, msg: m}, s.logSize)
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
		r.history = appendBounded(r.history, histEntry{stamp: st, From: m.From, Text: m.Text}, s.historySize)
		r.known[st.id()] = r.applied + 1
	}
	r.applied++
	r.log = appendBounded(r.log, event{seq: r.applied, msg: m}, s.logSize)
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

// otherInstancesError is the relay's failure to send a frame to the other
// instances.
type otherInstancesError struct{ err error }

func (e *otherInstancesError) Error() string { return e.err.Error() }
func (e *otherInstancesError) Unwrap() error { return e.err }

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
		missed, ok := eventsSince(r.log, cursor)
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

// Rooms counts the members of every instance: this one's, those the others
// say they have when asked (a query on PREFIX.chat.rooms, waiting as long
// as a state query), and, for instances that did not answer, those known
// from their events.
func (s *natsStore) Rooms() []roomInfo {
	counts := make(map[string]int)
	known := make(map[string]map[string]int) // instance -> room -> members, as last known
	for name, r := range s.roomList() {
		r.mu.Lock()
		counts[name] += len(r.present)
		for inst, names := range r.remote {
			if known[inst] == nil {
				known[inst] = make(map[string]int)
			}
			known[inst][name] = len(names)
		}
		r.mu.Unlock()
	}
	answered := s.askRooms()
	for _, rooms := range answered {
		for name, n := range rooms {
			counts[name] += n
		}
	}
	for inst, rooms := range known {
		if _, ok := answered[inst]; ok {
			continue
		}
		for name, n := range rooms {
			counts[name] += n
		}
	}
	var out []roomInfo
	for name, n := range counts {
		if n > 0 {
			out = append(out, roomInfo{Name: name, Members: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Members != out[j].Members {
			return out[i].Members > out[j].Members
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// askRooms asks the other instances for their members per room.
func (s *natsStore) askRooms() map[string]map[string]int {
	out := make(map[string]map[string]int)
	if !s.nc.IsConnected() || s.down.Load() {
		return out
	}
	want := s.knownPeers()
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return out
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest(s.roomsSubject, inbox, []byte(s.id)); err != nil {
		return out
	}
	end := time.Now().Add(s.timeout)
	for {
		stopAt := end
		if len(want) == 0 { // all known answered: wait only for the unknown, while new
			if !s.warmUntil.After(time.Now()) {
				return out
			}
			if s.warmUntil.Before(end) {
				stopAt = s.warmUntil
			}
		}
		left := time.Until(stopAt)
		if left <= 0 {
			return out
		}
		m, err := sub.NextMsg(left)
		if err != nil {
			return out
		}
		var a roomsAnswer
		if json.Unmarshal(m.Data, &a) != nil || a.Inst == "" || a.Inst == s.id {
			continue
		}
		s.sawPeer(a.Inst)
		out[a.Inst] = a.Rooms
		delete(want, a.Inst)
	}
}

func (s *natsStore) onRoomsRequest(m *nats.Msg) {
	if string(m.Data) == s.id || m.Reply == "" {
		return
	}
	a := roomsAnswer{Inst: s.id, Rooms: make(map[string]int)}
	for name, r := range s.roomList() {
		r.mu.Lock()
		if n := len(r.present); n > 0 {
			a.Rooms[name] = n
		}
		r.mu.Unlock()
	}
	data, _ := json.Marshal(a)
	m.Respond(data)
}

// peerCount is the number of other instances known now.
func (s *natsStore) peerCount() int {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	return len(s.peers)
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

// relay is the hub's Broker: a natsbroker.Broker with the store on both
// ways. Out, it wraps each frame the hub publishes with the stamp the store
// staged for it; in, it hands what other instances sent to the store, which
// records it and delivers it to the local members under the room's lock.
// It keeps a room subscribed while the hub has members in it or the store
// holds it (a joiner on its way in).
type relay struct {
	b       *natsbroker.Broker
	onEvent func(room string, data []byte)
	deliver func(sockets.Envelope) // the hub's, from Attach

	stageMu sync.Mutex
	staged  map[string]stamp // room -> stamp of the publication in progress

	mu       sync.Mutex
	hubWants map[string]bool
	holds    map[string]int
	epochs   map[string]uint64 // rooms subscribed -> epoch of the subscription
	next     uint64
}

var _ sockets.Broker = (*relay)(nil)

func (r *relay) Attach(deliver func(sockets.Envelope)) error {
	r.deliver = deliver // ordered before any delivery by the broker's Attach
	return r.b.Attach(r.fromRemote)
}

func (r *relay) fromRemote(env sockets.Envelope) {
	if env.Room == "" {
		r.deliver(env)
		return
	}
	r.onEvent(env.Room, env.Data)
}

// deliverLocal hands a frame to the hub for the room's local members.
func (r *relay) deliverLocal(room string, frame []byte) {
	r.deliver(sockets.Envelope{Room: room, Type: websocket.TextMessage, Data: frame})
}

func (r *relay) stage(room string, st stamp) {
	r.stageMu.Lock()
	r.staged[room] = st
	r.stageMu.Unlock()
}

func (r *relay) unstage(room string) {
	r.stageMu.Lock()
	delete(r.staged, room)
	r.stageMu.Unlock()
}

// Publish sends a frame the hub has delivered locally to the other
// instances, stamped. The hub calls it from publishLocked, under the room's
// lock, so the stamp staged for the room is this frame's.
func (r *relay) Publish(env sockets.Envelope) error {
	r.stageMu.Lock()
	st := r.staged[env.Room]
	delete(r.staged, env.Room)
	r.stageMu.Unlock()
	if !json.Valid(env.Data) {
		return &otherInstancesError{errors.New("chat: only JSON frames cross instances")}
	}
	data, err := json.Marshal(wireMsg{Kind: kindEvent, stamp: st, Frame: env.Data})
	if err == nil {
		err = r.b.Publish(sockets.Envelope{Room: env.Room, Type: env.Type, Data: data})
	}
	if err != nil {
		return &otherInstancesError{err}
	}
	return nil
}

func (r *relay) Subscribe(room string) error {
	if room == "" {
		return r.b.Subscribe("")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hubWants[room] = true
	_, err := r.syncLocked(room)
	return err
}

func (r *relay) Unsubscribe(room string) error {
	if room == "" {
		return r.b.Unsubscribe("")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hubWants, room)
	_, err := r.syncLocked(room)
	return err
}

// hold keeps room subscribed until unhold.
func (r *relay) hold(room string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holds[room]++
	_, err := r.syncLocked(room)
	return err
}

// unhold ends a hold and reports whether the room is no longer subscribed.
func (r *relay) unhold(room string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holds[room]--; r.holds[room] <= 0 {
		delete(r.holds, room)
	}
	dropped, _ := r.syncLocked(room)
	return dropped
}

func (r *relay) syncLocked(room string) (dropped bool, err error) {
	want := r.hubWants[room] || r.holds[room] > 0
	_, have := r.epochs[room]
	switch {
	case want && !have:
		if err := r.b.Subscribe(room); err != nil {
			return false, err
		}
		r.next++
		r.epochs[room] = r.next
	case !want && have:
		delete(r.epochs, room)
		return true, r.b.Unsubscribe(room)
	}
	return false, nil
}

// epoch identifies the room's current subscription (0: none). It changes
// when the room is subscribed again, and after a reconnect.
func (r *relay) epoch(room string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epochs[room]
}

// renew gives every subscription a new epoch: after a reconnect, what was
// merged before may be stale.
func (r *relay) renew() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for room := range r.epochs {
		r.next++
		r.epochs[room] = r.next
	}
}

func (r *relay) Close() error { return r.b.Close() }

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
