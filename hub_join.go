package sockets

import (
	"context"
	"errors"
	"fmt"

	"github.com/gorilla/websocket"
)

// JoinOptions says what JoinWith sends a connection as it joins a room:
// what it missed or the room's last messages, and who is there. The zero
// JoinOptions is a plain Join.
type JoinOptions struct {
	// Since is the last position the client saw, in a frame it got before
	// it reconnected: it gets exactly what it missed, as
	// HubOptions.HistoryFrame builds it, then the live messages, with no
	// gap and no duplicate. When the history cannot be continued from
	// Since, JoinWith returns an error wrapping ErrCannotRecover and c is
	// not joined: tell the client to start over, and join it again
	// without Since. Zero: a fresh join. Needs HubOptions.History.
	Since Position
	// Last is, on a fresh join (Since zero), how many of the room's last
	// messages c gets first, as Replay builds them, then the live ones,
	// with no gap and no duplicate. Zero: none. Needs HubOptions.History.
	Last int
	// Replay builds the frames of the messages Last sends, for c alone (a
	// page may tell them from live ones). Default: HubOptions.HistoryFrame.
	Replay func(Record) (messageType int, frame []byte)
	// Presence makes c get the room's presence frames
	// (HubOptions.PresenceFrames): after what it missed or was replayed,
	// the keys in the room, then each join and leave, on any instance,
	// until it leaves the room. Needs HubOptions.Presence and
	// HubOptions.PresenceFrames.
	Presence bool
	// Key is the presence key c holds in the room (its Claim): it is among
	// the keys c is told, and c is not told of its own join or leave.
	Key string
}

var errNoPresenceFrames = errors.New("sockets: JoinOptions.Presence needs HubOptions.Presence and HubOptions.PresenceFrames")

// JoinWith adds c to room, as Join does, and sends it first what opts
// asks for, in this order: the messages it missed (Since) or the room's
// last ones (Last), the keys in the room (Presence), then what was
// published meanwhile, and the live messages.
func (h *Hub) JoinWith(ctx context.Context, room string, c *Conn, opts JoinOptions) error {
	fromHistory := !opts.Since.IsZero() || opts.Last > 0
	if fromHistory && h.history == nil {
		return errNoHistory
	}
	if opts.Presence && (h.presence == nil || h.presenceFrames == nil) {
		return errNoPresenceFrames
	}
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return err
	}
	var w *presenceRoom
	if opts.Presence {
		var err error
		if w, err = h.enterPresence(room); err != nil {
			return fmt.Errorf("sockets: watching the presence in room %q: %w", room, err)
		}
	}
	var err error
	switch {
	case !fromHistory:
		err = h.Join(room, c)
		if w != nil {
			h.closeSlow(h.tell(room, w, c, opts.Key, nil))
		}
	case !opts.Since.IsZero():
		err = h.joinHistory(ctx, room, c, opts.Since, 0, h.historyFrame, w, opts.Key)
	default:
		replay := opts.Replay
		if replay == nil {
			replay = h.historyFrame
		}
		err = h.joinHistory(ctx, room, c, Position{}, opts.Last, replay, w, opts.Key)
	}
	if w != nil {
		h.untellGone(room, c)
	}
	return err
}

// JoinSince adds c to room, as Join does, and first sends it what the
// room's history holds after since: with the zero Position, everything the
// history keeps (its last HistoryOptions.Size messages); with a position
// a client saw, exactly what it missed. Live messages follow with no gap
// and no duplicate between the two. When the history cannot be continued
// from since (the position is older than what is kept, or from another
// epoch), JoinSince returns an error wrapping ErrCannotRecover and c is
// not joined: tell the client to start over, and join it again with the
// zero Position. It needs HubOptions.History. JoinWith does more.
func (h *Hub) JoinSince(ctx context.Context, room string, c *Conn, since Position) error {
	if h.history == nil {
		return errNoHistory
	}
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return err
	}
	return h.joinHistory(ctx, room, c, since, 0, h.historyFrame, nil, "")
}

// joinHistory joins c to room and sends it the records Read(since, limit)
// returns, built by frame, then (with w) the presence, then what came
// meanwhile; w's reference becomes c's, or is released on an error.
func (h *Hub) joinHistory(ctx context.Context, room string, c *Conn, since Position, limit int, frame func(Record) (int, []byte), w *presenceRoom, key string) error {
	ck := catchKey{room, c}
	h.catchMu.Lock()
	h.catching[ck] = &catchUp{}
	h.catchMu.Unlock()
	undo := func() {
		h.catchMu.Lock()
		delete(h.catching, ck)
		h.catchMu.Unlock()
		h.Leave(room, c)
		if w != nil {
			h.releasePresence(room, w)
		}
	}
	if err := h.Join(room, c); err != nil {
		undo()
		return err
	}
	recs, err := h.history.Read(ctx, room, since, limit)
	if err != nil {
		undo()
		return fmt.Errorf("sockets: joining room %q since %v: %w", room, since, err)
	}

	// Under catchMu, no live record reaches c while what it missed, the
	// presence and what waited go out, in order.
	h.catchMu.Lock()
	cu := h.catching[ck]
	last := since.Offset
	var slow []*Conn
	send := func(rec Record, frame func(Record) (int, []byte)) {
		if rec.Pos.Offset <= last {
			return
		}
		last = rec.Pos.Offset
		mt, data := frame(rec)
		pm, err := websocket.NewPreparedMessage(mt, data)
		if err != nil {
			return
		}
		slow = h.offer(c, 0, pm, len(data), slow)
	}
	for _, rec := range recs {
		send(rec, frame)
	}
	if w != nil {
		slow = h.tell(room, w, c, key, slow)
	}
	if cu != nil {
		for _, rec := range cu.pending {
			send(rec, h.historyFrame)
		}
		cu.pending = nil
		cu.live, cu.floor = true, last
	}
	h.catchMu.Unlock()
	h.closeSlow(slow)
	return nil
}
