package sockets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// NewMemoryHistory returns a HistoryStore that keeps rooms' messages in
// this process: the default for one server instance, nothing to set up.
// Its epoch is new each time, so positions from before a restart are
// refused (ErrCannotRecover) rather than misread.
//
// Follow's deliver runs on the appending goroutine, after Append has
// stored the record and before it returns, one record at a time per room;
// it must not call the store. A follower therefore never falls behind: no
// record is dropped before every follower of its room has had it, and
// Record.Missed is never set.
func NewMemoryHistory(opts *HistoryOptions) HistoryStore {
	var b [8]byte
	rand.Read(b[:])
	return &memoryHistory{
		opts:  opts.WithDefaults(),
		epoch: "m" + hex.EncodeToString(b[:]),
		rooms: make(map[string]*memoryRoom),
		ids:   make(map[string]idSeen),
	}
}

type memoryHistory struct {
	opts  HistoryOptions
	epoch string

	mu     sync.Mutex
	closed bool
	offset uint64 // the last offset given, store-wide (as a stream's sequence)
	rooms  map[string]*memoryRoom
	ids    map[string]idSeen // ids appended within dedupWindow
	idList []string          // ids in the order appended, to expire them
}

// memoryRoom is one room's records and followers.
type memoryRoom struct {
	records []Record // oldest first, at most Size
	// dropped is the offset of the newest record dropped (0: none): a
	// reader that has not seen it cannot continue without a gap.
	dropped   uint64
	followers map[*memoryFollower]struct{}
	// deliver orders deliveries: taken under the store's lock, held
	// while deliver runs without it.
	deliver sync.Mutex
}

type memoryFollower struct {
	deliver func(Record)
}

type idSeen struct {
	pos Position
	at  time.Time
}

// dedupWindow is how long an id is remembered, as JetStream's default
// duplicate window.
const dedupWindow = 2 * time.Minute

// maxIDs bounds the ids remembered, whatever the rate of appends.
const maxIDs = 100000

func (h *memoryHistory) Append(ctx context.Context, room string, messageType int, data []byte, id string) (Position, error) {
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return Position{}, err
	}
	if err := CheckMessage(messageType, data, h.opts.MaxMessageSize); err != nil {
		return Position{}, err
	}
	if err := ctx.Err(); err != nil {
		return Position{}, fmt.Errorf("sockets: appending to room %q: %w", room, err)
	}
	now := time.Now()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return Position{}, fmt.Errorf("sockets: appending to room %q: %w", room, ErrStoreClosed)
	}
	h.forgetIDs(now)
	if seen, ok := h.ids[id]; ok && id != "" {
		h.mu.Unlock()
		return seen.pos, nil
	}
	r := h.rooms[room]
	if r == nil {
		r = &memoryRoom{}
		h.rooms[room] = r
	}
	h.offset++
	rec := Record{Room: room, Pos: Position{Epoch: h.epoch, Offset: h.offset}, Type: messageType,
		Data: append([]byte(nil), data...), Time: now, ID: id}
	r.records = append(r.records, rec)
	h.trim(r, now)
	if id != "" {
		h.ids[id] = idSeen{pos: rec.Pos, at: now}
		h.idList = append(h.idList, id)
	}
	followers := make([]*memoryFollower, 0, len(r.followers))
	for f := range r.followers {
		followers = append(followers, f)
	}
	r.deliver.Lock()
	h.mu.Unlock()
	for _, f := range followers {
		f.deliver(rec)
	}
	r.deliver.Unlock()
	return rec.Pos, nil
}

// trim drops what r keeps beyond Size and MaxAge; h.mu is held.
func (h *memoryHistory) trim(r *memoryRoom, now time.Time) {
	drop := 0
	if over := len(r.records) - h.opts.Size; over > 0 {
		drop = over
	}
	if h.opts.MaxAge > 0 {
		for drop < len(r.records) && now.Sub(r.records[drop].Time) > h.opts.MaxAge {
			drop++
		}
	}
	if drop == 0 {
		return
	}
	r.dropped = r.records[drop-1].Pos.Offset
	clear(r.records[:drop])
	r.records = r.records[drop:]
}

// forgetIDs lets ids older than the window go; h.mu is held.
func (h *memoryHistory) forgetIDs(now time.Time) {
	n := 0
	for n < len(h.idList) && (len(h.idList)-n > maxIDs || now.Sub(h.ids[h.idList[n]].at) > dedupWindow) {
		delete(h.ids, h.idList[n])
		n++
	}
	if n > 0 {
		h.idList = append(h.idList[:0], h.idList[n:]...)
	}
}

func (h *memoryHistory) Read(ctx context.Context, room string, since Position, limit int) ([]Record, error) {
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sockets: reading room %q: %w", room, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("sockets: reading room %q: %w", room, ErrStoreClosed)
	}
	r := h.rooms[room]
	if r != nil {
		h.trim(r, time.Now())
	}
	if !since.IsZero() {
		if since.Epoch != h.epoch {
			return nil, fmt.Errorf("sockets: room %q, position %v: another epoch (%s): %w", room, since, h.epoch, ErrCannotRecover)
		}
		if r != nil && since.Offset < r.dropped {
			return nil, fmt.Errorf("sockets: room %q, position %v: records after it were dropped: %w", room, since, ErrCannotRecover)
		}
	}
	if r == nil {
		return nil, nil
	}
	i := 0
	for i < len(r.records) && r.records[i].Pos.Offset <= since.Offset {
		i++
	}
	out := r.records[i:]
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return append([]Record(nil), out...), nil
}

func (h *memoryHistory) Follow(room string, deliver func(Record)) (func(), error) {
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("sockets: following room %q: %w", room, ErrStoreClosed)
	}
	r := h.rooms[room]
	if r == nil {
		r = &memoryRoom{}
		h.rooms[room] = r
	}
	if r.followers == nil {
		r.followers = make(map[*memoryFollower]struct{})
	}
	f := &memoryFollower{deliver: deliver}
	r.followers[f] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			delete(r.followers, f)
			if len(r.records) == 0 && len(r.followers) == 0 && r.dropped == 0 {
				delete(h.rooms, room)
			}
			h.mu.Unlock()
		})
	}, nil
}

func (h *memoryHistory) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.rooms = nil
	h.ids = nil
	h.idList = nil
	return nil
}
