package storetest

// A small reference implementation of both stores, in memory, to check that
// the suite passes a store that does what the interfaces say (and so holds
// no backend's peculiarity as a rule). Two handles share one backend, as
// two instances share a server; a handle can crash.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestReferenceHistory(t *testing.T) {
	TestHistory(t, func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
		be := &refHistory{opts: opts, epoch: fmt.Sprint(time.Now().UnixNano()), rooms: map[string]*refRoom{}}
		a, b = &refHistoryHandle{be: be}, &refHistoryHandle{be: be}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	})
}

// TestReferenceHistoryFollowerLag: the reference's followers queue what
// they have not delivered, so they are never told of a gap.
func TestReferenceHistoryFollowerLag(t *testing.T) {
	TestHistoryFollowerLag(t, func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
		be := &refHistory{opts: opts, epoch: fmt.Sprint(time.Now().UnixNano()), rooms: map[string]*refRoom{}}
		a, b = &refHistoryHandle{be: be}, &refHistoryHandle{be: be}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	})
}

// TestReferenceHistoryOneHandle: a single-process store given twice.
func TestReferenceHistoryOneHandle(t *testing.T) {
	TestHistory(t, func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
		be := &refHistory{opts: opts, epoch: "one", rooms: map[string]*refRoom{}}
		h := &refHistoryHandle{be: be}
		t.Cleanup(func() { h.Close() })
		return h, h
	})
}

func TestReferencePresence(t *testing.T) {
	TestPresence(t, func(t *testing.T, opts sockets.PresenceOptions) (a, b sockets.PresenceStore, crashA func()) {
		be := &refPresence{lease: opts.Lease, rooms: map[string]map[string]*refClaim{}}
		ha, hb := &refPresenceHandle{be: be}, &refPresenceHandle{be: be}
		t.Cleanup(func() { ha.Close(); hb.Close(); be.wait() })
		return ha, hb, ha.crash
	})
}

// TestReferencePresenceOneHandle: a single-process store given twice,
// without crashes.
func TestReferencePresenceOneHandle(t *testing.T) {
	TestPresence(t, func(t *testing.T, opts sockets.PresenceOptions) (a, b sockets.PresenceStore, crashA func()) {
		be := &refPresence{lease: opts.Lease, rooms: map[string]map[string]*refClaim{}}
		h := &refPresenceHandle{be: be}
		t.Cleanup(func() { h.Close(); be.wait() })
		return h, h, nil
	})
}

// History.

type refHistory struct {
	opts  sockets.HistoryOptions
	epoch string

	mu        sync.Mutex
	last      uint64
	rooms     map[string]*refRoom
	followers []*refFollower
}

type refRoom struct {
	recs    []sockets.Record
	dropped uint64 // the newest offset dropped
	ids     map[string]sockets.Position
}

// trim drops what is over Size or older than MaxAge. Lock held.
func (be *refHistory) trim(r *refRoom) {
	for len(r.recs) > 0 && (len(r.recs) > be.opts.Size ||
		(be.opts.MaxAge > 0 && time.Since(r.recs[0].Time) > be.opts.MaxAge)) {
		r.dropped = r.recs[0].Pos.Offset
		r.recs = r.recs[1:]
	}
}

type refHistoryHandle struct {
	be *refHistory

	mu        sync.Mutex
	closed    bool
	followers []*refFollower
}

func (h *refHistoryHandle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *refHistoryHandle) Append(ctx context.Context, room string, typ int, data []byte, id string) (sockets.Position, error) {
	if h.isClosed() {
		return sockets.Position{}, fmt.Errorf("ref: %w", sockets.ErrStoreClosed)
	}
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return sockets.Position{}, err
	}
	if err := sockets.CheckMessage(typ, data, h.be.opts.MaxMessageSize); err != nil {
		return sockets.Position{}, err
	}
	be := h.be
	be.mu.Lock()
	defer be.mu.Unlock()
	r := be.rooms[room]
	if r == nil {
		r = &refRoom{ids: map[string]sockets.Position{}}
		be.rooms[room] = r
	}
	if p, ok := r.ids[id]; ok {
		return p, nil
	}
	be.last++
	rec := sockets.Record{Room: room, Pos: sockets.Position{Epoch: be.epoch, Offset: be.last}, Type: typ,
		Data: append([]byte(nil), data...), Time: time.Now(), ID: id}
	r.ids[id] = rec.Pos
	r.recs = append(r.recs, rec)
	be.trim(r)
	for _, f := range be.followers {
		if f.room == room {
			f.push(rec)
		}
	}
	return rec.Pos, nil
}

func (h *refHistoryHandle) Read(ctx context.Context, room string, since sockets.Position, limit int) ([]sockets.Record, error) {
	if h.isClosed() {
		return nil, fmt.Errorf("ref: %w", sockets.ErrStoreClosed)
	}
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, err
	}
	be := h.be
	be.mu.Lock()
	defer be.mu.Unlock()
	r := be.rooms[room]
	if r == nil {
		r = &refRoom{ids: map[string]sockets.Position{}}
	}
	be.trim(r)
	if !since.IsZero() && (since.Epoch != be.epoch || since.Offset < r.dropped) {
		return nil, fmt.Errorf("ref: %w", sockets.ErrCannotRecover)
	}
	var out []sockets.Record
	for _, rec := range r.recs {
		if rec.Pos.Offset > since.Offset {
			out = append(out, rec)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

type refFollower struct {
	room    string
	deliver func(sockets.Record)

	mu      sync.Mutex
	queue   []sockets.Record
	stopped bool
	wake    chan struct{}
	done    chan struct{}
	inside  sync.Mutex // held while deliver runs
}

func (f *refFollower) push(r sockets.Record) {
	f.mu.Lock()
	f.queue = append(f.queue, r)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *refFollower) run() {
	defer close(f.done)
	for {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return
		}
		if len(f.queue) == 0 {
			f.mu.Unlock()
			<-f.wake
			continue
		}
		r := f.queue[0]
		f.queue = f.queue[1:]
		f.mu.Unlock()
		f.inside.Lock()
		f.mu.Lock()
		stopped := f.stopped
		f.mu.Unlock()
		if !stopped {
			f.deliver(r)
		}
		f.inside.Unlock()
	}
}

// stop ends delivery; it waits for a delivery in progress unless that is
// the one calling it.
func (f *refFollower) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	if f.inside.TryLock() {
		f.inside.Unlock()
		<-f.done
	}
}

func (h *refHistoryHandle) Follow(room string, deliver func(sockets.Record)) (func(), error) {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("ref: %w", sockets.ErrStoreClosed)
	}
	f := &refFollower{room: room, deliver: deliver, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go f.run()
	h.be.mu.Lock()
	h.be.followers = append(h.be.followers, f)
	h.be.mu.Unlock()
	h.followers = append(h.followers, f)
	var once sync.Once
	return func() {
		once.Do(func() {
			h.be.mu.Lock()
			h.be.followers = slices.DeleteFunc(h.be.followers, func(g *refFollower) bool { return g == f })
			h.be.mu.Unlock()
			f.stop()
		})
	}, nil
}

func (h *refHistoryHandle) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	fs := h.followers
	h.mu.Unlock()
	h.be.mu.Lock()
	h.be.followers = slices.DeleteFunc(h.be.followers, func(g *refFollower) bool { return slices.Contains(fs, g) })
	h.be.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	return nil
}

// Presence.

type refPresence struct {
	lease time.Duration

	mu       sync.Mutex
	rooms    map[string]map[string]*refClaim
	watchers []*refWatcher
	timers   sync.WaitGroup
}

func (be *refPresence) wait() { be.timers.Wait() }

type refClaim struct {
	be      *refPresence
	h       *refPresenceHandle
	room    string
	m       sockets.Member
	lost    chan struct{}
	expired bool
}

type refWatcher struct {
	room string
	f    func(sockets.PresenceEvent)
	mu   sync.Mutex // orders and stops calls
	stop bool
}

// emit calls the room's watchers, outside be.mu, in order.
func (be *refPresence) emit(ws []*refWatcher, ev sockets.PresenceEvent) {
	for _, w := range ws {
		w.mu.Lock()
		if !w.stop {
			w.f(ev)
		}
		w.mu.Unlock()
	}
}

// remove ends c; it returns the watchers to tell. Lock held.
func (be *refPresence) remove(c *refClaim) []*refWatcher {
	if be.rooms[c.room][c.m.Key] != c {
		return nil
	}
	delete(be.rooms[c.room], c.m.Key)
	var ws []*refWatcher
	for _, w := range be.watchers {
		if w.room == c.room {
			ws = append(ws, w)
		}
	}
	return ws
}

type refPresenceHandle struct {
	be *refPresence

	mu     sync.Mutex
	closed bool
	claims map[*refClaim]bool
}

func (h *refPresenceHandle) Claim(ctx context.Context, room, key string, info []byte) (sockets.Claim, error) {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, err
	}
	if err := sockets.CheckName("key", key, sockets.MaxKeyLen); err != nil {
		return nil, err
	}
	if len(info) > sockets.MaxInfoLen {
		return nil, fmt.Errorf("ref: info of %d bytes", len(info))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("ref: %w", sockets.ErrStoreClosed)
	}
	be := h.be
	be.mu.Lock()
	if be.rooms[room][key] != nil {
		be.mu.Unlock()
		return nil, fmt.Errorf("ref: %w", sockets.ErrKeyTaken)
	}
	c := &refClaim{be: be, h: h, room: room, lost: make(chan struct{}),
		m: sockets.Member{Key: key, Info: append([]byte(nil), info...), Since: time.Now()}}
	if be.rooms[room] == nil {
		be.rooms[room] = map[string]*refClaim{}
	}
	be.rooms[room][key] = c
	var ws []*refWatcher
	for _, w := range be.watchers {
		if w.room == room {
			ws = append(ws, w)
		}
	}
	be.mu.Unlock()
	if h.claims == nil {
		h.claims = map[*refClaim]bool{}
	}
	h.claims[c] = true
	be.emit(ws, sockets.PresenceEvent{Room: room, Key: key, Info: c.m.Info})
	return c, nil
}

func (c *refClaim) Release(ctx context.Context) error {
	c.be.mu.Lock()
	ws := c.be.remove(c)
	c.be.mu.Unlock()
	c.h.mu.Lock()
	delete(c.h.claims, c)
	c.h.mu.Unlock()
	if ws != nil {
		c.be.emit(ws, sockets.PresenceEvent{Room: c.room, Key: c.m.Key, Info: c.m.Info, Left: true})
	}
	return nil
}

func (c *refClaim) Lost() <-chan struct{} { return c.lost }

func (h *refPresenceHandle) Members(ctx context.Context, room string) ([]sockets.Member, error) {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, err
	}
	h.be.mu.Lock()
	defer h.be.mu.Unlock()
	var ms []sockets.Member
	for _, c := range h.be.rooms[room] {
		ms = append(ms, c.m)
	}
	slices.SortFunc(ms, func(a, b sockets.Member) int { return strings.Compare(a.Key, b.Key) })
	return ms, nil
}

func (h *refPresenceHandle) Watch(room string, f func(sockets.PresenceEvent)) (func(), error) {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, err
	}
	w := &refWatcher{room: room, f: f}
	h.be.mu.Lock()
	h.be.watchers = append(h.be.watchers, w)
	var present []sockets.Member
	for _, c := range h.be.rooms[room] {
		present = append(present, c.m)
	}
	slices.SortFunc(present, func(a, b sockets.Member) int { return strings.Compare(a.Key, b.Key) })
	w.mu.Lock() // before any later event reaches w
	h.be.mu.Unlock()
	for _, m := range present {
		f(sockets.PresenceEvent{Room: room, Key: m.Key, Info: m.Info})
	}
	w.mu.Unlock()
	return func() {
		h.be.mu.Lock()
		h.be.watchers = slices.DeleteFunc(h.be.watchers, func(x *refWatcher) bool { return x == w })
		h.be.mu.Unlock()
		w.mu.Lock()
		w.stop = true
		w.mu.Unlock()
	}, nil
}

func (h *refPresenceHandle) Rooms(ctx context.Context) ([]sockets.RoomCount, error) {
	h.be.mu.Lock()
	defer h.be.mu.Unlock()
	var out []sockets.RoomCount
	for room, cs := range h.be.rooms {
		if len(cs) > 0 {
			out = append(out, sockets.RoomCount{Room: room, Members: len(cs)})
		}
	}
	return out, nil
}

func (h *refPresenceHandle) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	cs := h.claims
	h.claims = nil
	h.mu.Unlock()
	for c := range cs {
		c.be.mu.Lock()
		ws := c.be.remove(c)
		c.be.mu.Unlock()
		if ws != nil {
			c.be.emit(ws, sockets.PresenceEvent{Room: c.room, Key: c.m.Key, Info: c.m.Info, Left: true})
		}
	}
	return nil
}

// crash stops h without releasing: its claims end after the lease.
func (h *refPresenceHandle) crash() {
	h.mu.Lock()
	h.closed = true
	cs := h.claims
	h.claims = nil
	h.mu.Unlock()
	be := h.be
	be.timers.Add(1)
	time.AfterFunc(be.lease, func() {
		defer be.timers.Done()
		for c := range cs {
			be.mu.Lock()
			ws := be.remove(c)
			be.mu.Unlock()
			close(c.lost)
			if ws != nil {
				be.emit(ws, sockets.PresenceEvent{Room: c.room, Key: c.m.Key, Info: c.m.Info, Left: true})
			}
		}
	})
}
