package sockets

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// A Hub fans messages out to connections organised in rooms.
//
// Any handler can use it: ask for the connection's *sockets.Conn beside the
// channels, Join it to a room, and Publish what it receives. Published
// frames reach each member through its own bounded queue, which its writer
// goroutine drains along with the handler's sender channel, so the handler
// stays one select loop:
//
//	m.Get("/ws/:room", sockets.Messages(), func(ctx *macaron.Context, c *sockets.Conn,
//		receiver <-chan string, done <-chan bool) {
//		room := ctx.Params("room")
//		hub.Join(room, c)
//		for {
//			select {
//			case msg := <-receiver:
//				hub.Publish(room, sockets.TextMessage, []byte(msg))
//			case <-done:
//				return // the connection left its rooms by itself
//			}
//		}
//	})
//
// Publishing never blocks on a client: each message is encoded once into a
// websocket.PreparedMessage and offered to every member's queue (a Frame
// is shared by every room it is published to); a member whose queue is
// full is handled by the SlowClientPolicy. A Hub has no
// goroutines of its own and is safe for concurrent use.
//
// A Broker links hubs on several server instances: Publish delivers to the
// local members at once and hands the message to the broker for the others.
// Publish, and a Join to a room new on this instance or the last leave,
// then wait for the broker's call (natsbroker's: at most its write
// timeout, when the NATS server stops reading).
type Hub struct {
	policy       SlowClientPolicy
	broker       Broker
	history      HistoryStore
	historyFrame func(Record) (int, []byte)
	presence     PresenceStore
	// presenceFrames, with presence, tells connections joined with
	// JoinOptions.Presence who is in their rooms: presRooms holds a watch
	// per room told here, presConns the rooms each connection is told.
	presenceFrames *PresenceFrames
	presMu         sync.Mutex
	presRooms      map[string]*presenceRoom
	presConns      map[*Conn][]string
	// roomsMu guards the last answer of PresenceRooms, kept roomsMaxAge.
	roomsMu     sync.Mutex
	roomsMaxAge time.Duration
	roomsList   []RoomCount
	roomsErr    error
	roomsAt     time.Time

	mu    sync.RWMutex
	rooms map[string]map[*Conn]struct{}
	// members holds every connection that joined a room here and has not
	// closed: one OnClose hook each, however often it rejoins.
	members map[*Conn]member
	inRooms int // members in at least one room

	// subMu is held shared by each broker or store call that subscribes
	// or follows a room, and exclusively by Close, which so waits for
	// them; roomLocks orders the calls for one room, while calls for
	// different rooms run at once (each may take a round trip: one lock
	// for every room made a storm of joins to many rooms wait in line).
	// subscribed is what the broker was last told, per room: written and
	// read holding mu.
	subMu      sync.RWMutex
	roomLocks  keyedLocks
	subscribed map[string]bool
	// background counts the goroutines of inBackground (a closed
	// connection's broker and store calls); none starts once closed is set
	// (under mu), so Close can wait for them.
	background sync.WaitGroup
	closed     bool
	// following holds the rooms followed in the history store, under mu
	// (as subscribed).
	following map[string]historyRoom

	// catchMu guards what JoinSince and PublishExcept leave for the
	// store's deliveries.
	catchMu  sync.Mutex
	catching map[catchKey]*catchUp  // members joining with JoinSince
	excepts  map[string]exceptEntry // message id -> connection left out
	idPrefix string
	ids      atomic.Uint64

	in, out, dropped, slow, brokerErrors, refused, storeErrors atomic.Uint64
	gaps, gapCloses                                            atomic.Uint64
}

// SlowClientPolicy says what a Hub does with a member whose queue is full.
type SlowClientPolicy int

const (
	// DisconnectSlowClient closes the member's connection with 1008 (policy
	// violation), as gorilla's chat hub does. The default.
	DisconnectSlowClient SlowClientPolicy = iota
	// DropMessage skips the message for that member only.
	DropMessage
)

// String names the policy.
func (p SlowClientPolicy) String() string {
	switch p {
	case DisconnectSlowClient:
		return "DisconnectSlowClient"
	case DropMessage:
		return "DropMessage"
	}
	return fmt.Sprintf("SlowClientPolicy(%d)", int(p))
}

// HubOptions configures a Hub. A nil *HubOptions, or a zero field, means
// the default.
type HubOptions struct {
	// SlowClientPolicy decides about members whose queue is full.
	// Default: DisconnectSlowClient. The queue's size is the binding's
	// Options.HubQueueSize.
	SlowClientPolicy SlowClientPolicy
	// Broker links this hub with hubs on other instances. Default: nil, an
	// in-process hub. With History set, the store links rooms across
	// instances, and the broker carries only PublishAll's messages.
	Broker Broker
	// History keeps what is published to rooms, in one order shared by
	// every instance using the store (NewMemoryHistory for one process;
	// natsjs on NATS JetStream), and lets members join since a position
	// (JoinSince). Default: nil, no history.
	History HistoryStore
	// HistoryFrame builds the frame members get for a record of the
	// history, once per message. Default: DefaultHistoryFrame, which adds
	// the position to JSON objects.
	HistoryFrame func(Record) (messageType int, frame []byte)
	// Presence keeps who is in which room across instances (Claim,
	// Presence, WatchPresence). Default: nil, no presence.
	Presence PresenceStore
	// RoomsMaxAge is how long PresenceRooms keeps an answer of the
	// presence store. Default: 2 seconds; negative: it asks the store on
	// each call.
	RoomsMaxAge time.Duration
	// PresenceFrames, with Presence, builds the frames that tell the
	// connections joined with JoinOptions.Presence who is in their rooms.
	// Default: nil, JoinOptions.Presence is refused.
	PresenceFrames *PresenceFrames
}

// Envelope is a published message as it travels between hubs.
type Envelope struct {
	Room string // "" addresses every room
	Type int    // TextMessage or BinaryMessage
	Data []byte // the frame's payload, as published
}

// Broker carries published messages between the hubs of several server
// instances. The hub delivers to its own members itself; the broker only
// reaches the others, and must not hand a hub back its own messages.
type Broker interface {
	// Attach is called once, by NewHub, with the function through which the
	// broker delivers messages published on other instances.
	Attach(deliver func(Envelope)) error
	// Publish hands a message to the other instances. It must not block for
	// long; an error means the other instances will not get it.
	Publish(Envelope) error
	// Subscribe is called when a room gets its first local member, and
	// Unsubscribe when its last one leaves. Calls for one room come one at
	// a time, in order; calls for different rooms may come at once.
	Subscribe(room string) error
	// Unsubscribe stops delivery for a room with no local members.
	Unsubscribe(room string) error
	// Close releases the broker.
	Close() error
}

// NewHub returns an empty hub.
func NewHub(opts *HubOptions) (*Hub, error) {
	h := &Hub{
		rooms:        make(map[string]map[*Conn]struct{}),
		members:      make(map[*Conn]member),
		subscribed:   make(map[string]bool),
		following:    make(map[string]historyRoom),
		catching:     make(map[catchKey]*catchUp),
		excepts:      make(map[string]exceptEntry),
		idPrefix:     newIDPrefix(),
		historyFrame: DefaultHistoryFrame,
		presRooms:    make(map[string]*presenceRoom),
		presConns:    make(map[*Conn][]string),
		roomsMaxAge:  defaultRoomsMaxAge,
	}
	if opts != nil {
		h.policy = opts.SlowClientPolicy
		h.broker = opts.Broker
		h.history = opts.History
		h.presence = opts.Presence
		h.presenceFrames = opts.PresenceFrames
		if opts.RoomsMaxAge != 0 {
			h.roomsMaxAge = opts.RoomsMaxAge
		}
		if f := h.presenceFrames; f != nil && (f.Members == nil || f.Event == nil) {
			return nil, errors.New("sockets: HubOptions.PresenceFrames needs both Members and Event")
		}
		if opts.HistoryFrame != nil {
			h.historyFrame = opts.HistoryFrame
		}
	}
	if h.broker != nil {
		if err := h.broker.Attach(h.deliverRemote); err != nil {
			return nil, fmt.Errorf("sockets: attaching the hub's broker: %w", err)
		}
		// Every hub hears what is published to all rooms.
		if err := h.broker.Subscribe(""); err != nil {
			return nil, fmt.Errorf("sockets: subscribing to hub-wide messages: %w", err)
		}
	}
	return h, nil
}

// Join adds c to room. A connection may be in any number of rooms; it
// leaves them all by itself when it closes. Room names may be any non-empty
// string. An error from the broker (the room's messages from other
// instances will not arrive) leaves c in the room on this instance; the
// next Join to the room asks the broker again.
func (h *Hub) Join(room string, c *Conn) error {
	if room == "" {
		return errEmptyRoom
	}
	h.mu.Lock()
	m, hooked := h.members[c]
	if !m.in(room) {
		if len(m.rooms) == 0 {
			h.inRooms++
		}
		m.rooms = append(m.rooms, room)
		h.members[c] = m
		set := h.rooms[room]
		if set == nil {
			set = make(map[*Conn]struct{})
			h.rooms[room] = set
		}
		set[c] = struct{}{}
	}
	ask := (h.broker != nil || h.history != nil) && !h.subscribed[room]
	h.mu.Unlock()

	if !hooked {
		c.OnClose(func() { h.forget(c) })
	}
	if ask {
		return h.syncRoom(room)
	}
	return nil
}

// member is what a hub keeps of a connection: its rooms, in a slice, since
// a connection is in few rooms (joining and leaving cost a search of them).
type member struct {
	rooms []string
}

func (m member) in(room string) bool {
	for _, r := range m.rooms {
		if r == room {
			return true
		}
	}
	return false
}

func (m *member) leave(room string) {
	for i, r := range m.rooms {
		if r == room {
			last := len(m.rooms) - 1
			m.rooms[i] = m.rooms[last]
			m.rooms[last] = ""
			m.rooms = m.rooms[:last]
			return
		}
	}
}

var errEmptyRoom = errors.New("sockets: a hub room needs a name (use PublishAll to reach every room)")

// Leave removes c from room.
func (h *Hub) Leave(room string, c *Conn) {
	h.mu.Lock()
	last := h.leaveLocked(room, c)
	h.mu.Unlock()
	if h.presenceFrames != nil {
		h.untell(room, c)
	}
	h.unsubscribe(last)
}

// LeaveAll removes c from every room.
func (h *Hub) LeaveAll(c *Conn) {
	emptied := h.leaveAllLocal(c, false)
	h.untellAll(c)
	h.unsubscribe(emptied)
}

// forget is LeaveAll for a closed connection, run by its closer before
// done fires: it also drops the record that c's close is hooked, and it
// leaves telling the broker about the rooms c emptied to a goroutine of
// its own (Close waits for it), so that a slow broker never delays done.
func (h *Hub) forget(c *Conn) {
	emptied := h.leaveAllLocal(c, true)
	if h.history != nil {
		h.forgetCatchUps(c)
	}
	h.untellAll(c)
	if len(emptied) == 0 || (h.broker == nil && h.history == nil) {
		return
	}
	// Once Close has begun, the broker is closed and the rooms unfollowed:
	// nothing to tell them.
	h.inBackground(func() { h.unsubscribe(emptied) })
}

// leaveAllLocal removes c from every room and returns the rooms it emptied.
func (h *Hub) leaveAllLocal(c *Conn, closed bool) []string {
	var emptied []string
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, room := range append([]string(nil), h.members[c].rooms...) {
		emptied = append(emptied, h.leaveLocked(room, c)...)
	}
	if closed {
		delete(h.members, c)
	}
	return emptied
}

// leaveLocked removes c from room and returns the room if it is now empty.
func (h *Hub) leaveLocked(room string, c *Conn) []string {
	m, ok := h.members[c]
	if !ok || !m.in(room) {
		return nil
	}
	m.leave(room)
	h.members[c] = m
	if len(m.rooms) == 0 {
		h.inRooms--
	}
	set := h.rooms[room]
	delete(set, c)
	if len(set) == 0 {
		delete(h.rooms, room)
		return []string{room}
	}
	return nil
}

func (h *Hub) unsubscribe(rooms []string) {
	for _, room := range rooms {
		h.syncRoom(room)
	}
}

// syncRoom tells the broker whether this instance wants room's messages,
// as the room is now. Join and leave decide "first" and "last" under mu but
// call the broker after; deciding again here, in order, means that a leave
// overtaken by a join cannot leave a member without a subscription.
func (h *Hub) syncRoom(room string) error {
	if (h.broker == nil && h.history == nil) || room == "" {
		return nil
	}
	h.subMu.RLock()
	defer h.subMu.RUnlock()
	defer h.roomLocks.lock(room)()
	h.mu.RLock()
	want, was := len(h.rooms[room]) > 0, h.subscribed[room]
	h.mu.RUnlock()
	if want == was {
		return nil
	}
	if h.history != nil {
		return h.syncFollow(room, want)
	}
	var err error
	if want {
		err = h.broker.Subscribe(room)
	} else {
		err = h.broker.Unsubscribe(room)
	}
	if err != nil {
		h.brokerErrors.Add(1)
		return fmt.Errorf("sockets: telling the broker about room %q: %w", room, err)
	}
	h.mu.Lock()
	if want {
		h.subscribed[room] = true
	} else {
		delete(h.subscribed, room)
	}
	h.mu.Unlock()
	return nil
}

// Publish sends one message to every member of room, on this instance and,
// through the broker, on the others. It never blocks on a client.
// messageType is TextMessage (data must then be valid UTF-8) or
// BinaryMessage; anything else, or an empty room name, is refused
// with an error and reaches nobody. Otherwise an error reports a broker
// failure only; local members have been served anyway.
// The hub keeps data until every member's frame is written: do not modify
// it after the call.
func (h *Hub) Publish(room string, messageType int, data []byte) error {
	return h.publish(Envelope{Room: room, Type: messageType, Data: data}, nil, 0, false)
}

// PublishExcept is Publish leaving out one connection, usually the sender.
func (h *Hub) PublishExcept(room string, except *Conn, messageType int, data []byte) error {
	var id uint64
	if except != nil {
		id = except.ID()
	}
	return h.publish(Envelope{Room: room, Type: messageType, Data: data}, nil, id, false)
}

// PublishJSON publishes v, encoded once, as a JSON text message to room.
func (h *Hub) PublishJSON(room string, v interface{}) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sockets: encoding a hub message for room %q: %w", room, err)
	}
	return h.Publish(room, websocket.TextMessage, data)
}

// PublishAll sends one message to every connection in any room, once each.
func (h *Hub) PublishAll(messageType int, data []byte) error {
	return h.publish(Envelope{Type: messageType, Data: data}, nil, 0, true)
}

// publish delivers env here, leaving out the connection whose ID is except
// (0: none), and hands it to the broker for the other instances. f, when
// not nil, is env as a Frame, checked already.
func (h *Hub) publish(env Envelope, f *Frame, except uint64, everyRoom bool) error {
	if env.Room == "" && !everyRoom {
		h.refused.Add(1)
		return errEmptyRoom
	}
	if h.history != nil && !everyRoom {
		return h.publishToHistory(env, except)
	}
	if err := h.deliver(env, f, except); err != nil {
		return err
	}
	if h.broker == nil {
		return nil
	}
	if err := h.broker.Publish(env); err != nil {
		h.brokerErrors.Add(1)
		return fmt.Errorf("sockets: publishing to other instances: %w", err)
	}
	return nil
}

// deliverRemote serves a message published on another instance; one the
// hub would refuse from a local publisher is dropped (Stats.Refused).
func (h *Hub) deliverRemote(env Envelope) {
	h.deliver(env, nil, 0)
}

// deliver offers the message to each local member's queue but except's:
// f when it is not nil (env as a Frame, checked already), else env
// prepared once for them all.
func (h *Hub) deliver(env Envelope, f *Frame, except uint64) error {
	q := queuedFrame{frame: f, size: len(env.Data)}
	if f == nil {
		if err := checkFrame(env.Type, env.Data); err != nil {
			h.refused.Add(1)
			return err
		}
		var err error
		if q.pm, err = websocket.NewPreparedMessage(env.Type, env.Data); err != nil {
			return fmt.Errorf("sockets: preparing a hub message: %w", err)
		}
	}
	h.in.Add(1)
	var slow []*Conn
	h.mu.RLock()
	if env.Room == "" {
		for c, m := range h.members {
			if len(m.rooms) > 0 {
				slow = h.offerQueued(c, except, q, slow)
			}
		}
	} else {
		for c := range h.rooms[env.Room] {
			slow = h.offerQueued(c, except, q, slow)
		}
	}
	h.mu.RUnlock()
	for _, c := range slow {
		c.Close(websocket.ClosePolicyViolation, "slow client")
	}
	return nil
}

// checkFrame refuses what must not go out as a data frame: control and
// unknown message types, and text that is not valid UTF-8 (a browser fails
// the connection on it).
func checkFrame(messageType int, data []byte) error {
	switch messageType {
	case websocket.TextMessage:
		if !utf8.Valid(data) {
			return errors.New("sockets: a hub text message must be valid UTF-8")
		}
	case websocket.BinaryMessage:
	default:
		return fmt.Errorf("sockets: a hub message must be text or binary, not type %d", messageType)
	}
	return nil
}

// offer queues pm for c, applying the policy when c's queue is full. It
// returns slow with c added when c must be disconnected.
func (h *Hub) offer(c *Conn, except uint64, pm *websocket.PreparedMessage, size int, slow []*Conn) []*Conn {
	return h.offerQueued(c, except, queuedFrame{pm: pm, size: size}, slow)
}

// offerQueued is offer for a queue's entry: a prepared message or a Frame.
func (h *Hub) offerQueued(c *Conn, except uint64, q queuedFrame, slow []*Conn) []*Conn {
	if c.id == except {
		return slow
	}
	if c.enqueueQueued(q) {
		h.out.Add(1)
		return slow
	}
	if isClosed(c.stop) {
		return slow // closing anyway
	}
	if h.policy == DropMessage {
		h.dropped.Add(1)
		return slow
	}
	h.slow.Add(1)
	return append(slow, c)
}

// Members returns the connections in room on this instance.
func (h *Hub) Members(room string) []*Conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Conn, 0, len(h.rooms[room]))
	for c := range h.rooms[room] {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Count returns the number of connections in room on this instance.
func (h *Hub) Count(room string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.rooms[room])
}

// Rooms returns the names of the rooms with members on this instance, sorted.
func (h *Hub) Rooms() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.rooms))
	for r := range h.rooms {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Stats counts what a hub has done.
type Stats struct {
	Connections     int    `json:"connections"`      // connections in at least one room
	Rooms           int    `json:"rooms"`            // rooms with at least one member
	MessagesIn      uint64 `json:"messages_in"`      // messages published here or received from the broker
	MessagesOut     uint64 `json:"messages_out"`     // frames queued to members
	Dropped         uint64 `json:"dropped"`          // frames skipped under DropMessage
	SlowDisconnects uint64 `json:"slow_disconnects"` // members closed under DisconnectSlowClient
	BrokerErrors    uint64 `json:"broker_errors"`    // broker calls that failed
	Refused         uint64 `json:"refused"`          // messages refused: no room name, not text or binary, text not UTF-8
	StoreErrors     uint64 `json:"store_errors"`     // history store calls that failed
	// HistoryGaps counts the gaps the history store reported
	// (Record.Missed): records of a room it dropped before this hub had
	// them, so never sent to its members here.
	HistoryGaps uint64 `json:"history_gaps"`
	// GapDisconnects counts the members closed after such a gap, with
	// 1013 (try again later), to come back since their last position.
	GapDisconnects uint64 `json:"gap_disconnects"`
}

// Stats returns the hub's counters now.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	s := Stats{Connections: h.inRooms, Rooms: len(h.rooms)}
	h.mu.RUnlock()
	s.MessagesIn = h.in.Load()
	s.MessagesOut = h.out.Load()
	s.Dropped = h.dropped.Load()
	s.SlowDisconnects = h.slow.Load()
	s.BrokerErrors = h.brokerErrors.Load()
	s.Refused = h.refused.Load()
	s.StoreErrors = h.storeErrors.Load()
	s.HistoryGaps = h.gaps.Load()
	s.GapDisconnects = h.gapCloses.Load()
	return s
}

// PublishExpvar makes the hub's Stats visible through expvar (for example
// at /debug/vars) under name. A name can be published once per process; a
// taken name is an error.
func (h *Hub) PublishExpvar(name string) error {
	expvarMu.Lock()
	defer expvarMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("sockets: expvar name %q is already published", name)
	}
	expvar.Publish(name, expvar.Func(func() interface{} { return h.Stats() }))
	return nil
}

var expvarMu sync.Mutex

// Close waits for the broker and store calls under way for connections
// that closed, stops following the history store, and closes the broker,
// if any. Connections are not closed, and neither are the stores, which
// the app may share.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.background.Wait()
	h.stopPresence()
	h.subMu.Lock()
	h.mu.Lock()
	following := h.following
	h.following = make(map[string]historyRoom)
	h.mu.Unlock()
	for _, f := range following {
		f.stop()
	}
	h.subMu.Unlock()
	if h.broker == nil {
		return nil
	}
	return h.broker.Close()
}

// syncFollow starts or stops following room in the history store; subMu
// (shared) and room's lock are held.
func (h *Hub) syncFollow(room string, want bool) error {
	if want {
		stop, err := h.history.Follow(room, h.deliverRecord)
		if err != nil {
			h.storeErrors.Add(1)
			return fmt.Errorf("sockets: following room %q in the history store: %w", room, err)
		}
		h.mu.Lock()
		h.following[room] = historyRoom{stop: stop}
		h.subscribed[room] = true
		h.mu.Unlock()
		return nil
	}
	h.mu.Lock()
	f, ok := h.following[room]
	delete(h.following, room)
	delete(h.subscribed, room)
	h.mu.Unlock()
	if ok {
		f.stop()
		h.forgetExcepts(room)
	}
	return nil
}
