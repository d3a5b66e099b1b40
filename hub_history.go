package sockets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// A hub with HubOptions.History keeps what is published to rooms in the
// store, and delivers to its members what the store hands back, in the
// store's order: the same on every instance. Publish returns once the
// store has the message (a round trip or more for a remote store: see
// HistoryStore.Append) and reports a store failure as an error: nothing
// is acknowledged and then lost.
// Members get each message as the frame HubOptions.HistoryFrame makes of
// its record, built once per message and shared by every member.

// historyRoom is what the hub knows of a room it follows in the store.
type historyRoom struct {
	stop func() // ends the store's Follow
}

// catchUp is a member joining with JoinSince: live records wait in
// pending while what it missed is read; then records at or before floor,
// which it got from the read, are not sent again.
type catchUp struct {
	pending []Record
	live    bool   // the read is sent: skip records up to floor
	floor   uint64 // the last offset sent from the read
}

type catchKey struct {
	room string
	c    *Conn
}

// maxPending bounds what a member joining with JoinSince may have waiting
// while its missed records are read; past it, the slow-client policy
// applies.
const maxPending = 4096

// appendTimeout bounds Publish's call to the store.
const appendTimeout = 5 * time.Second

// newMessageID makes the id of a published message: unique to this hub,
// so that a store de-duplicates only a retried append.
func (h *Hub) newMessageID() string {
	return h.idPrefix + strconv.FormatUint(h.ids.Add(1), 36)
}

func newIDPrefix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// publishToHistory appends env to the store; members get it from the
// store, except's connection (ID; 0: none) left out.
func (h *Hub) publishToHistory(env Envelope, except uint64) error {
	if err := CheckName("room", env.Room, MaxRoomLen); err != nil {
		h.refused.Add(1)
		return err
	}
	if err := checkFrame(env.Type, env.Data); err != nil {
		h.refused.Add(1)
		return err
	}
	id := h.newMessageID()
	if except != 0 && h.Count(env.Room) > 0 {
		h.catchMu.Lock()
		h.excepts[id] = exceptEntry{room: env.Room, conn: except}
		h.catchMu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	if _, err := h.history.Append(ctx, env.Room, env.Type, env.Data, id); err != nil {
		if except != 0 {
			h.catchMu.Lock()
			delete(h.excepts, id)
			h.catchMu.Unlock()
		}
		h.storeErrors.Add(1)
		return fmt.Errorf("sockets: storing a message for room %q: %w", env.Room, err)
	}
	return nil
}

// deliverRecord hands a record from the store to the room's members here.
// After a gap (rec.Missed) it closes them instead: see closeAfterGap.
func (h *Hub) deliverRecord(rec Record) {
	if rec.Missed {
		h.closeAfterGap(rec)
		return
	}
	mt, frame := h.historyFrame(rec)
	pm, err := websocket.NewPreparedMessage(mt, frame)
	if err != nil {
		h.refused.Add(1)
		return
	}
	h.in.Add(1)
	size := len(frame)
	h.catchMu.Lock()
	except := h.excepts[rec.ID].conn
	if except != 0 {
		delete(h.excepts, rec.ID)
	}
	catching := len(h.catching) > 0
	h.catchMu.Unlock()

	var slow []*Conn
	h.mu.RLock()
	for c := range h.rooms[rec.Room] {
		if catching && h.held(rec, c) {
			continue
		}
		slow = h.offer(c, except, pm, size, slow)
	}
	h.mu.RUnlock()
	h.closeSlow(slow)
}

// gapCloseReason is the reason of the close frame (1013, try again later)
// members get when the store dropped records before this hub had them.
const gapCloseReason = "missed messages: reconnect since your last position"

// closeAfterGap handles rec, the first record after records of its room
// that the store dropped before this hub got them (Record.Missed): the
// room's members here were not sent those, so none of them is sent rec
// either. Each is closed with 1013 (try again later), the frames queued
// before still sent, so that its client comes back since the last
// position it got, and is sent exactly what it missed, or told that it
// cannot be (ErrCannotRecover). Members joining with JoinSince get the
// same: what they wait for may straddle the gap.
func (h *Hub) closeAfterGap(rec Record) {
	h.gaps.Add(1)
	h.in.Add(1)
	h.catchMu.Lock()
	delete(h.excepts, rec.ID)
	h.catchMu.Unlock()
	h.mu.RLock()
	members := make([]*Conn, 0, len(h.rooms[rec.Room]))
	for c := range h.rooms[rec.Room] {
		members = append(members, c)
	}
	h.mu.RUnlock()
	// Deliveries of a room come one at a time: none reaches these
	// members before they are closed.
	for _, c := range members {
		if !isClosed(c.stop) {
			h.gapCloses.Add(1)
		}
		c.Close(websocket.CloseTryAgainLater, gapCloseReason)
	}
}

// held reports whether rec waits for (or was already sent to) c, a member
// joining with JoinSince, rather than going out now.
func (h *Hub) held(rec Record, c *Conn) bool {
	h.catchMu.Lock()
	defer h.catchMu.Unlock()
	cu := h.catching[catchKey{rec.Room, c}]
	switch {
	case cu == nil:
		return false
	case !cu.live:
		if len(cu.pending) >= maxPending {
			return false // too much waits: the queue's policy decides
		}
		cu.pending = append(cu.pending, rec)
		return true
	case rec.Pos.Offset <= cu.floor:
		return true // sent with what it missed
	}
	delete(h.catching, catchKey{rec.Room, c}) // past the read: live now
	return false
}

func (h *Hub) closeSlow(slow []*Conn) {
	for _, c := range slow {
		c.Close(websocket.ClosePolicyViolation, "slow client")
	}
}

// exceptEntry is the connection a message published with PublishExcept
// leaves out, kept until the store delivers the message here, or until
// the room is no longer followed.
type exceptEntry struct {
	room string
	conn uint64
}

// forgetExcepts drops what waits for a room no longer followed.
func (h *Hub) forgetExcepts(room string) {
	h.catchMu.Lock()
	defer h.catchMu.Unlock()
	for id, e := range h.excepts {
		if e.room == room {
			delete(h.excepts, id)
		}
	}
}

var errNoHistory = errors.New("sockets: this hub keeps no history (HubOptions.History)")

// forgetCatchUps drops what the hub keeps for c joining rooms; c closed.
func (h *Hub) forgetCatchUps(c *Conn) {
	h.catchMu.Lock()
	defer h.catchMu.Unlock()
	for key := range h.catching {
		if key.c == c {
			delete(h.catching, key)
		}
	}
}

// DefaultHistoryFrame is the frame a hub with history sends for a record
// when HubOptions.HistoryFrame is nil: a text message that is a JSON
// object gets the record's position as its first member, "pos":
// "EPOCH:OFFSET" (what ParsePosition reads back); any other message goes
// out as published.
func DefaultHistoryFrame(rec Record) (messageType int, frame []byte) {
	d := rec.Data
	if rec.Type != TextMessage || len(d) < 2 || d[0] != '{' {
		return rec.Type, rec.Data
	}
	quoted, _ := json.Marshal(rec.Pos.String())
	pos := append(append(make([]byte, 0, len(d)+len(quoted)+8), `{"pos":`...), quoted...)
	rest := d[1:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != '}' {
		pos = append(pos, ',')
	}
	return TextMessage, append(pos, rest...)
}
