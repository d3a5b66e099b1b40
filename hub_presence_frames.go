package sockets

import (
	"slices"
	"sync"

	"github.com/gorilla/websocket"
)

// PresenceFrames builds the frames with which a hub tells the connections
// joined with JoinOptions.Presence who is in their rooms, on every
// instance. Each frame is built once and shared by every connection told.
type PresenceFrames struct {
	// Members is the frame a connection gets as it joins the room: the
	// keys there at that moment, sorted, its own (JoinOptions.Key)
	// included. Every change after it reaches the connection as an Event.
	Members func(room string, keys []string) (messageType int, frame []byte)
	// Event is the frame the room's connections get when a key joins or
	// leaves, on any instance; the connection holding the key is not told.
	// A join of a key already there, or a leave of one not there, is not
	// told.
	Event func(room string, ev PresenceEvent) (messageType int, frame []byte)
}

// presenceRoom is the presence watch of a room with connections told
// about it on this instance: one store watch per room, however many
// connections.
type presenceRoom struct {
	ready chan struct{} // closed once the watch is set up, or failed
	err   error
	stop  func()
	once  sync.Once // for stop
	refs  int       // connections entering or told; under Hub.presMu

	mu      sync.Mutex
	members map[string]bool  // the room's keys, on every instance
	told    map[*Conn]string // the connections told here, with their keys
}

// enterPresence returns room's watch, set up by the room's first
// connection. Each successful call is paired with releasePresence, or
// handed to the connection by tell.
func (h *Hub) enterPresence(room string) (*presenceRoom, error) {
	h.presMu.Lock()
	w := h.presRooms[room]
	first := w == nil
	if first {
		w = &presenceRoom{ready: make(chan struct{}), members: map[string]bool{}, told: map[*Conn]string{}}
		h.presRooms[room] = w
	}
	w.refs++
	h.presMu.Unlock()
	if first {
		// The keys present come as joins before Watch returns.
		w.stop, w.err = h.presence.Watch(room, func(ev PresenceEvent) { h.presenceEvent(room, w, ev) })
		close(w.ready)
	}
	<-w.ready
	if w.err != nil {
		h.releasePresence(room, w)
		return nil, w.err
	}
	return w, nil
}

// releasePresence drops a reference to room's watch, and ends the watch
// with the last.
func (h *Hub) releasePresence(room string, w *presenceRoom) {
	h.presMu.Lock()
	w.refs--
	last := w.refs == 0
	if last && h.presRooms[room] == w {
		delete(h.presRooms, room)
	}
	h.presMu.Unlock()
	if last {
		w.end()
	}
}

// end stops the store's watch, once.
func (w *presenceRoom) end() {
	w.once.Do(func() {
		if w.stop != nil {
			w.stop()
		}
	})
}

// tell sends c, holding key, the members frame and makes it a recipient
// of the room's events; the reference from enterPresence is now c's. It
// returns slow with c added when c's queue is full.
func (h *Hub) tell(room string, w *presenceRoom, c *Conn, key string, slow []*Conn) []*Conn {
	h.presMu.Lock()
	h.presConns[c] = append(h.presConns[c], room)
	h.presMu.Unlock()

	w.mu.Lock()
	keys := make([]string, 0, len(w.members)+1)
	for k := range w.members {
		if k != key {
			keys = append(keys, k)
		}
	}
	if key != "" {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	mt, frame := h.presenceFrames.Members(room, keys)
	if pm, err := websocket.NewPreparedMessage(mt, frame); err == nil {
		slow = h.offer(c, 0, pm, len(frame), slow)
	}
	w.told[c] = key
	w.mu.Unlock()
	return slow
}

// untellGone is called after tell, outside the hub's other locks: c may
// have left the room, or closed, before tell recorded it. Leave and close
// untell after leaving, so one of them or this sees it.
func (h *Hub) untellGone(room string, c *Conn) {
	h.mu.RLock()
	in := h.members[c].in(room)
	h.mu.RUnlock()
	if !in {
		h.untell(room, c)
	}
}

// untell stops telling c about room, if it was told.
func (h *Hub) untell(room string, c *Conn) {
	h.presMu.Lock()
	rooms := h.presConns[c]
	i := slices.Index(rooms, room)
	if i < 0 {
		h.presMu.Unlock()
		return
	}
	rooms = slices.Delete(rooms, i, i+1)
	if len(rooms) == 0 {
		delete(h.presConns, c)
	} else {
		h.presConns[c] = rooms
	}
	w := h.presRooms[room]
	h.presMu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	delete(w.told, c)
	w.mu.Unlock()
	h.releasePresence(room, w)
}

// untellAll stops telling c about every room.
func (h *Hub) untellAll(c *Conn) {
	if h.presenceFrames == nil {
		return
	}
	h.presMu.Lock()
	rooms := slices.Clone(h.presConns[c])
	h.presMu.Unlock()
	for _, room := range rooms {
		h.untell(room, c)
	}
}

// presenceEvent takes a join or leave in room into the watch, and tells
// the room's connections but the key's own.
func (h *Hub) presenceEvent(room string, w *presenceRoom, ev PresenceEvent) {
	w.mu.Lock()
	if w.members[ev.Key] != ev.Left {
		w.mu.Unlock()
		return // a join of a key there, or a leave of one not there
	}
	if ev.Left {
		delete(w.members, ev.Key)
	} else {
		w.members[ev.Key] = true
	}
	var slow []*Conn
	if len(w.told) > 0 {
		mt, frame := h.presenceFrames.Event(room, ev)
		if pm, err := websocket.NewPreparedMessage(mt, frame); err == nil {
			for c, key := range w.told {
				if key != ev.Key {
					slow = h.offer(c, 0, pm, len(frame), slow)
				}
			}
		}
	}
	w.mu.Unlock()
	h.closeSlow(slow)
}

// stopPresence ends every presence watch: the hub is closing.
func (h *Hub) stopPresence() {
	h.presMu.Lock()
	rooms := h.presRooms
	h.presRooms = map[string]*presenceRoom{}
	h.presConns = map[*Conn][]string{}
	h.presMu.Unlock()
	for _, w := range rooms {
		<-w.ready
		w.end()
	}
}
