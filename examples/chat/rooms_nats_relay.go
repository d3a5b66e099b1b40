package main

import (
	"encoding/json"
	"errors"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// relay is the hub's Broker: a natsbroker.Broker with the store on both
// ways. Out, it wraps each frame the hub publishes with the stamp the store
// staged for it; in, it hands what other instances sent to the store, which
// records it and delivers it to the local members under the room's lock.
// It keeps a room subscribed while the hub has members in it or the store
// holds it (a joiner on its way in).
//
// The chat publishes nothing to every room (PublishAll): the relay does
// not subscribe to what others publish there, which it could only deliver
// verbatim, and refuses to send it.
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
	r.onEvent(env.Room, env.Data) // "" never comes: not subscribed
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
	switch {
	case env.Room == "":
		return &otherInstancesError{errors.New("chat: nothing is published to every room across instances")}
	case st.Inst == "":
		return &otherInstancesError{errors.New("chat: only the store's events cross instances")}
	case !json.Valid(env.Data):
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
		return nil // see relay
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hubWants[room] = true
	_, err := r.syncLocked(room)
	return err
}

func (r *relay) Unsubscribe(room string) error {
	if room == "" {
		return nil
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

// otherInstancesError is the relay's failure to send a frame to the other
// instances.
type otherInstancesError struct{ err error }

func (e *otherInstancesError) Error() string { return e.err.Error() }
func (e *otherInstancesError) Unwrap() error { return e.err }
