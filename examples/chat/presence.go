package main

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
)

// roomWatch keeps, for one room with members on this instance, the room's
// members on every instance (from the hub's presence watch) and tells this
// instance's members who joins and leaves, with "status" frames.
type roomWatch struct {
	ready chan struct{} // closed once the watch is set up (or failed)
	err   error
	stop  func()
	refs  int // members here entering or in the room; under watches.mu

	mu      sync.Mutex
	members map[string]bool          // by name, every instance's
	local   map[*sockets.Conn]string // this instance's members, with their names
}

// watches are the rooms this instance watches the presence of: one watch
// per room with members here, whatever their number.
type watches struct {
	hub   *sockets.Hub
	mu    sync.Mutex
	rooms map[string]*roomWatch
}

// enter returns the room's watch, set up if this is the room's first member
// here. Each successful enter is paired with a leave.
func (ws *watches) enter(room string) (*roomWatch, error) {
	ws.mu.Lock()
	w := ws.rooms[room]
	first := w == nil
	if first {
		w = &roomWatch{ready: make(chan struct{}), members: map[string]bool{}, local: map[*sockets.Conn]string{}}
		ws.rooms[room] = w
	}
	w.refs++
	ws.mu.Unlock()
	if first {
		// The members there come as joins before WatchPresence returns.
		w.stop, w.err = ws.hub.WatchPresence(room, w.event)
		close(w.ready)
	}
	<-w.ready
	if w.err != nil {
		ws.leave(room, w, nil)
		return nil, w.err
	}
	return w, nil
}

// leave takes c out of the room's watch, and ends the watch after the
// room's last member here.
func (ws *watches) leave(room string, w *roomWatch, c *sockets.Conn) {
	w.mu.Lock()
	delete(w.local, c)
	w.mu.Unlock()
	ws.mu.Lock()
	w.refs--
	last := w.refs == 0
	if last {
		delete(ws.rooms, room)
	}
	ws.mu.Unlock()
	if last && w.stop != nil {
		w.stop()
	}
}

// join makes c, the connection of name, a recipient of the room's status
// frames, and sends it the members frame first: every change after the
// list it gets reaches it as a status.
func (w *roomWatch) join(c *sockets.Conn, name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.members)+1)
	for n := range w.members {
		if n != name {
			names = append(names, n)
		}
	}
	names = append(names, name)
	slices.Sort(names)
	list, _ := json.Marshal(names)
	if err := sendFrame(c, Message{Typ: typMembers, Text: string(list)}); err != nil {
		return err
	}
	w.local[c] = name
	return nil
}

// event takes a join or leave, from any instance, into the members, and
// tells this instance's members but the one it is about.
func (w *roomWatch) event(ev sockets.PresenceEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.members[ev.Key] != ev.Left {
		return // a leave of no one, or a second join of a key (a new claim)
	}
	text := "joined"
	if ev.Left {
		text = "left"
		delete(w.members, ev.Key)
	} else {
		w.members[ev.Key] = true
	}
	data, _ := json.Marshal(Message{Typ: typStatus, From: ev.Key, Text: text})
	for c, name := range w.local {
		if name != ev.Key && c.Send(sockets.TextMessage, data) != nil {
			c.Close(websocket.ClosePolicyViolation, "slow client") // as the hub does
		}
	}
}

// sendFrame queues m for c, after what the hub queued before.
func sendFrame(c *sockets.Conn, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.Send(sockets.TextMessage, data)
}
