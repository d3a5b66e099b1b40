package sockets

import (
	"context"
	"errors"
	"time"
)

// A Member is the holder of a key in a room.
type Member struct {
	Key   string
	Info  []byte    // the holder's own small value (a display name, a status)
	Since time.Time // when the key was claimed
}

// A RoomCount is a room with members, as PresenceStore.Rooms lists it.
type RoomCount struct {
	Room    string
	Members int
}

// A PresenceEvent is a join or a leave in a room.
type PresenceEvent struct {
	Room string
	Key  string
	Info []byte // the member's info; on a leave, as last known (may be nil)
	Left bool
}

// PresenceStore keeps who is in which room, across every server instance
// that uses the store. The Hub uses one when HubOptions.Presence is set;
// NewMemoryPresence makes one for a single process, and package natsjs one
// on NATS JetStream.
//
// Implementations are safe for concurrent use.
type PresenceStore interface {
	// Claim makes key a member of room, with info, unless another claim
	// holds it: at most one holder across all instances, even for claims
	// made at the same moment (ErrKeyTaken for the others). The store
	// keeps the claim alive until it is released or the store is closed;
	// a claim no one keeps alive (its instance crashed) ends after the
	// store's lease time.
	Claim(ctx context.Context, room, key string, info []byte) (Claim, error)
	// Members returns the members of room, ordered by key. When the store
	// cannot reach its backend, it returns what it last knew with an error
	// wrapping ErrStale.
	Members(ctx context.Context, room string) ([]Member, error)
	// Watch calls f with a join for each member of room when the watch
	// begins (ordered by key), then with each join and leave after that,
	// in order, one at a time, until stop is called: a page can keep a
	// member list with no race between reading it and hearing of changes.
	// The joins for the members present are all made before Watch
	// returns.
	Watch(room string, f func(PresenceEvent)) (stop func(), err error)
	// Rooms returns every room that has members, with their number,
	// across every instance, in no set order. It may read every member's
	// key: Hub.PresenceRooms keeps its answer for a while.
	Rooms(ctx context.Context) ([]RoomCount, error)
	// Close releases the store and every claim made through it.
	Close() error
}

// A Claim is a key held in a room.
type Claim interface {
	// Release gives the key up: the member leaves.
	Release(ctx context.Context) error
	// Lost is closed when the claim ended without Release: its lease
	// expired while the store could not renew it, or another holder took
	// the key after that.
	Lost() <-chan struct{}
}

// PresenceOptions configures a presence store. A nil *PresenceOptions, or
// a zero field, means the default.
type PresenceOptions struct {
	// Lease is how long a claim outlives its instance: a store renews its
	// claims well within it, and a claim no one renews (its instance
	// crashed) ends after it. Default: 10s.
	Lease time.Duration
}

const defaultLease = 10 * time.Second

// WithDefaults returns a copy of o (nil: the zero value) with its zero
// fields set to their defaults, for the stores' constructors.
func (o *PresenceOptions) WithDefaults() PresenceOptions {
	var c PresenceOptions
	if o != nil {
		c = *o
	}
	if c.Lease <= 0 {
		c.Lease = defaultLease
	}
	return c
}

// ErrStale: the store cannot reach its backend; what it returned is what
// it last knew.
var ErrStale = errors.New("sockets: presence is stale: the store cannot reach its backend")
