package sockets

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// NewMemoryPresence returns a PresenceStore that keeps presence in this
// process: the default for one server instance. Claims last until released
// or until the store is closed (there is no other instance to outlive, so
// opts' lease is not used).
//
// Watch's f runs on the goroutine that claimed or released, one event at
// a time per store; it must not call the store.
func NewMemoryPresence(opts *PresenceOptions) PresenceStore {
	return &memoryPresence{rooms: make(map[string]map[string]*memoryClaim)}
}

type memoryPresence struct {
	mu       sync.Mutex
	closed   bool
	rooms    map[string]map[string]*memoryClaim
	watchers map[string]map[*memoryWatcher]struct{}
	// notify orders events: taken under mu, held while the watchers run.
	notify sync.Mutex
}

type memoryClaim struct {
	p      *memoryPresence
	room   string
	member Member
	done   bool
}

type memoryWatcher struct {
	f func(PresenceEvent)
}

// checkClaim refuses what cannot be a room, a key or an info value.
func checkClaim(room, key string, info []byte) error {
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return err
	}
	if err := CheckName("key", key, MaxKeyLen); err != nil {
		return err
	}
	if len(info) > MaxInfoLen {
		return fmt.Errorf("sockets: member info of %d bytes is over the %d allowed", len(info), MaxInfoLen)
	}
	return nil
}

func (p *memoryPresence) Claim(ctx context.Context, room, key string, info []byte) (Claim, error) {
	if err := checkClaim(room, key, info); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sockets: claiming %q in room %q: %w", key, room, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("sockets: claiming %q in room %q: %w", key, room, ErrStoreClosed)
	}
	members := p.rooms[room]
	if _, taken := members[key]; taken {
		p.mu.Unlock()
		return nil, fmt.Errorf("sockets: claiming %q in room %q: %w", key, room, ErrKeyTaken)
	}
	if members == nil {
		members = make(map[string]*memoryClaim)
		p.rooms[room] = members
	}
	c := &memoryClaim{p: p, room: room, member: Member{Key: key, Info: append([]byte(nil), info...), Since: time.Now()}}
	members[key] = c
	p.emit(PresenceEvent{Room: room, Key: key, Info: c.member.Info})
	return c, nil
}

// emit tells room's watchers about e; p.mu is held and is released.
func (p *memoryPresence) emit(e PresenceEvent) {
	watchers := make([]*memoryWatcher, 0, len(p.watchers[e.Room]))
	for w := range p.watchers[e.Room] {
		watchers = append(watchers, w)
	}
	p.notify.Lock()
	p.mu.Unlock()
	for _, w := range watchers {
		w.f(e)
	}
	p.notify.Unlock()
}

func (c *memoryClaim) Release(ctx context.Context) error {
	p := c.p
	p.mu.Lock()
	if c.done {
		p.mu.Unlock()
		return nil
	}
	c.done = true
	members := p.rooms[c.room]
	delete(members, c.member.Key)
	if len(members) == 0 {
		delete(p.rooms, c.room)
	}
	p.emit(PresenceEvent{Room: c.room, Key: c.member.Key, Info: c.member.Info, Left: true})
	return nil
}

// Lost returns nil: in one process a claim ends only when released.
func (c *memoryClaim) Lost() <-chan struct{} { return nil }

func (p *memoryPresence) Members(ctx context.Context, room string) ([]Member, error) {
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("sockets: members of room %q: %w", room, ErrStoreClosed)
	}
	out := make([]Member, 0, len(p.rooms[room]))
	for _, c := range p.rooms[room] {
		out = append(out, c.member)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (p *memoryPresence) Rooms(ctx context.Context) ([]RoomCount, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("sockets: listing rooms: %w", ErrStoreClosed)
	}
	out := make([]RoomCount, 0, len(p.rooms))
	for room, claims := range p.rooms {
		if len(claims) > 0 {
			out = append(out, RoomCount{Room: room, Members: len(claims)})
		}
	}
	return out, nil
}

func (p *memoryPresence) Watch(room string, f func(PresenceEvent)) (func(), error) {
	if err := CheckName("room", room, MaxRoomLen); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("sockets: watching room %q: %w", room, ErrStoreClosed)
	}
	if p.watchers == nil {
		p.watchers = make(map[string]map[*memoryWatcher]struct{})
	}
	set := p.watchers[room]
	if set == nil {
		set = make(map[*memoryWatcher]struct{})
		p.watchers[room] = set
	}
	w := &memoryWatcher{f: f}
	set[w] = struct{}{}
	// The members now, as joins, before any later event: under notify,
	// taken before mu is let go.
	present := make([]Member, 0, len(p.rooms[room]))
	for _, c := range p.rooms[room] {
		present = append(present, c.member)
	}
	sort.Slice(present, func(i, j int) bool { return present[i].Key < present[j].Key })
	p.notify.Lock()
	p.mu.Unlock()
	for _, m := range present {
		f(PresenceEvent{Room: room, Key: m.Key, Info: m.Info})
	}
	p.notify.Unlock()
	p.mu.Lock() // for the deferred Unlock
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.watchers[room], w)
			if len(p.watchers[room]) == 0 {
				delete(p.watchers, room)
			}
			p.mu.Unlock()
		})
	}, nil
}

// Close releases every claim (watchers see them leave) and the store.
func (p *memoryPresence) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true // no claim from now on
	var claims []*memoryClaim
	for _, members := range p.rooms {
		for _, c := range members {
			claims = append(claims, c)
		}
	}
	p.mu.Unlock()
	for _, c := range claims {
		c.Release(context.Background())
	}
	return nil
}
