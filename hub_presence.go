package sockets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"gopkg.in/macaron.v1"
)

// Claim makes key a member of room in the hub's presence store
// (HubOptions.Presence), with info, for connection c: at most one holder
// of a key in a room across every instance (ErrKeyTaken for the others).
// The claim is released when c closes (after done, so a slow store never
// delays it), or earlier with the returned Claim's Release. Claim does not
// join c to the room: Join or JoinSince does that.
func (h *Hub) Claim(ctx context.Context, room string, c *Conn, key string, info []byte) (Claim, error) {
	if h.presence == nil {
		return nil, errNoPresence
	}
	cl, err := h.presence.Claim(ctx, room, key, info)
	if err != nil {
		return nil, err
	}
	c.OnClose(func() {
		if !h.inBackground(func() { releaseClaim(cl) }) {
			releaseClaim(cl) // the hub is closed; the store may not be
		}
	})
	return cl, nil
}

// releaseTimeout bounds the release of a closed connection's claim.
const releaseTimeout = 5 * time.Second

func releaseClaim(cl Claim) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	cl.Release(ctx)
}

// inBackground runs f on a goroutine of its own that Close waits for, and
// reports true; once Close has begun it runs nothing and reports false.
func (h *Hub) inBackground(f func()) bool {
	h.mu.Lock()
	closed := h.closed
	if !closed {
		h.background.Add(1)
	}
	h.mu.Unlock()
	if closed {
		return false
	}
	go func() {
		defer h.background.Done()
		f()
	}()
	return true
}

// Presence returns the members of room across every instance, from the
// hub's presence store; when the store cannot reach its backend, what it
// last knew, with an error wrapping ErrStale.
func (h *Hub) Presence(ctx context.Context, room string) ([]Member, error) {
	if h.presence == nil {
		return nil, errNoPresence
	}
	return h.presence.Members(ctx, room)
}

// PresenceRooms returns every room with members across every instance,
// with their number, busiest first (then by name), from the hub's presence
// store. The store reads every member to answer; the hub reads it at most
// once per HubOptions.RoomsMaxAge, callers meanwhile sharing the answer
// (and its error): a lobby asked for often costs the store nothing more.
func (h *Hub) PresenceRooms(ctx context.Context) ([]RoomCount, error) {
	if h.presence == nil {
		return nil, errNoPresence
	}
	h.roomsMu.Lock()
	defer h.roomsMu.Unlock()
	if h.roomsAt.IsZero() || time.Since(h.roomsAt) >= h.roomsMaxAge {
		rooms, err := h.presence.Rooms(ctx)
		slices.SortFunc(rooms, func(a, b RoomCount) int {
			return cmp.Or(cmp.Compare(b.Members, a.Members), strings.Compare(a.Room, b.Room))
		})
		h.roomsList, h.roomsErr, h.roomsAt = rooms, err, time.Now()
	}
	return slices.Clone(h.roomsList), h.roomsErr
}

// WatchPresence calls f with each join and leave in room, on any
// instance, until stop is called.
func (h *Hub) WatchPresence(room string, f func(PresenceEvent)) (stop func(), err error) {
	if h.presence == nil {
		return nil, errNoPresence
	}
	return h.presence.Watch(room, f)
}

var errNoPresence = errors.New("sockets: this hub keeps no presence (HubOptions.Presence)")

// ClaimFirst returns a Macaron handler, placed before a binding, that
// claims a presence key in a room before the upgrade, for the whole
// connection: a chat's unique name. keyOf reads the room, the key and its
// info from the request; it may answer the request itself (a 400) and
// return ok false, which stops the chain. A room or key that CheckName
// refuses gets 400; a key already held, on any instance, 409; a store that fails, 503 with Retry-After. Otherwise
// the sockets.Claim is mapped for the handlers after (its Lost channel
// says when the store could not keep it), and released when the chain
// returns: the connection is over, or the upgrade failed. Close waits for
// the releases under way.
func (h *Hub) ClaimFirst(keyOf func(ctx *macaron.Context) (room, key string, info []byte, ok bool)) macaron.Handler {
	return func(ctx *macaron.Context) {
		room, key, info, ok := keyOf(ctx)
		if !ok {
			return
		}
		if err := errors.Join(CheckName("room", room, MaxRoomLen), CheckName("key", key, MaxKeyLen)); err != nil {
			http.Error(ctx.Resp, err.Error(), http.StatusBadRequest)
			return
		}
		var cl Claim
		err := errNoPresence
		if h.presence != nil {
			cctx, cancel := context.WithTimeout(ctx.Req.Context(), claimTimeout)
			cl, err = h.presence.Claim(cctx, room, key, info)
			cancel()
		}
		switch {
		case errors.Is(err, ErrKeyTaken):
			http.Error(ctx.Resp, fmt.Sprintf("%q is already in use in this room", key), http.StatusConflict)
			return
		case err != nil:
			h.storeErrors.Add(1)
			ctx.Resp.Header().Set("Retry-After", "5")
			http.Error(ctx.Resp, "the presence store is unavailable, try again", http.StatusServiceUnavailable)
			return
		}
		defer func() {
			if !h.inBackground(func() { releaseClaim(cl) }) {
				releaseClaim(cl) // the hub is closed; the store may not be
			}
		}()
		ctx.Map(cl)
		ctx.Next()
	}
}

// claimTimeout bounds ClaimFirst's call to the store.
const claimTimeout = 5 * time.Second

// defaultRoomsMaxAge is HubOptions.RoomsMaxAge's default.
const defaultRoomsMaxAge = 2 * time.Second
