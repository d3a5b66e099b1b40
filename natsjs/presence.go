package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/macaron-contrib/sockets"
)

// DefaultBucket names the presence's KV bucket.
const DefaultBucket = "SOCKETS_PRESENCE"

// maxValueSize bounds a member's value in the bucket: its info in base64,
// within a small JSON object.
const maxValueSize = 2048

// maxCachedRooms bounds the rooms whose members Members remembers, to
// answer with when NATS cannot be reached.
const maxCachedRooms = 1024

// PresenceOptions configures a Presence. A nil *PresenceOptions, or a zero
// field, means the default.
type PresenceOptions struct {
	// PresenceOptions holds the Lease: the bucket's TTL. Every instance
	// sharing the bucket must use the same Lease.
	sockets.PresenceOptions
	// Bucket names the KV bucket. Default: "SOCKETS_PRESENCE".
	Bucket string
	// Replicas is the bucket's number of replicas, for a clustered
	// JetStream. Default: 1.
	Replicas int
	// Timeout bounds each call to the server (a renewal's, at most a third
	// of the Lease). Default: DefaultTimeout.
	Timeout time.Duration
}

// Presence is a sockets.PresenceStore on a JetStream KV bucket: see the
// package documentation. Its methods are safe for concurrent use.
type Presence struct {
	nc      *nats.Conn
	kv      jetstream.KeyValue
	bucket  string
	lease   time.Duration
	timeout time.Duration

	mu     sync.Mutex
	closed bool
	claims map[*claim]struct{}
	// releasing counts the Release calls in flight, added to under mu
	// while not closed: Close waits for them, so that the connection is
	// not closed under them (the keys would stay for a lease).
	releasing sync.WaitGroup
	watchers  map[*watcher]struct{}

	cacheMu sync.Mutex
	cache   map[string][]sockets.Member // the last members read, by room

	status    chan nats.Status // the connection's reconnects
	stopRenew chan struct{}    // closed by Close
	renewDone chan struct{}    // closed when the renewer has returned
}

var _ sockets.PresenceStore = (*Presence)(nil)

// NewPresence returns a Presence over nc, which the caller keeps (Close
// leaves it open; it should reconnect forever, nats.MaxReconnects(-1)).
// It needs nats-server MinServerVersion or later with JetStream (an error
// wrapping ErrServerTooOld or ErrNoJetStream says so), creates the bucket
// when it does not exist, and refuses one that exists with settings these
// options cannot work with (an error wrapping ErrIncompatible names the
// setting; the bucket is not changed).
func NewPresence(ctx context.Context, nc *nats.Conn, opts *PresenceOptions) (*Presence, error) {
	if err := checkConn(nc); err != nil {
		return nil, err
	}
	var o PresenceOptions
	if opts != nil {
		o = *opts
	}
	o.PresenceOptions = o.PresenceOptions.WithDefaults()
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if !validName(o.Bucket) {
		return nil, fmt.Errorf("natsjs: bucket name %q: only letters, digits, - and _", o.Bucket)
	}
	if o.Lease < 100*time.Millisecond {
		return nil, fmt.Errorf("natsjs: Lease %v: JetStream needs 100ms at least", o.Lease)
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if !nc.IsConnected() {
		return nil, fmt.Errorf("natsjs: presence: %w", ErrNotConnected)
	}
	if err := checkServerVersion(nc.ConnectedServerVersion()); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsjs: %w", err)
	}
	ctx, cancel := bound(ctx, o.Timeout)
	defer cancel()
	level, err := checkJetStream(ctx, js)
	if err != nil {
		return nil, err
	}
	if level < 1 {
		return nil, fmt.Errorf("%w: its JetStream API level is %d; presence needs nats-server %s or later (API level 1), for keys that expire with a delete marker watchers see",
			ErrServerTooOld, level, MinServerVersion)
	}
	p := &Presence{
		nc: nc, bucket: o.Bucket, lease: o.Lease, timeout: o.Timeout,
		claims: map[*claim]struct{}{}, watchers: map[*watcher]struct{}{}, cache: map[string][]sockets.Member{},
		stopRenew: make(chan struct{}), renewDone: make(chan struct{}),
	}
	kv, err := js.KeyValue(ctx, p.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         p.bucket,
			Description:    "sockets: room presence, one key per member",
			History:        1,
			TTL:            p.lease,
			LimitMarkerTTL: max(p.lease, time.Second),
			MaxValueSize:   maxValueSize,
			Storage:        jetstream.FileStorage,
			Replicas:       o.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, p.bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natsjs: bucket %s: %w", p.bucket, err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsjs: bucket %s: %w", p.bucket, err)
	}
	if err := p.checkBucket(status.Config()); err != nil {
		return nil, err
	}
	p.kv = kv
	p.status = nc.StatusChanged(nats.CONNECTED)
	go p.renewer()
	return p, nil
}

// checkBucket refuses a bucket the presence cannot work with, naming the
// first setting that differs.
func (p *Presence) checkBucket(c jetstream.KeyValueConfig) error {
	bad := func(setting string, has, want any) error {
		return fmt.Errorf("%w: bucket %s has %s %v, these options need %v (change the options, or the bucket yourself)",
			ErrIncompatible, p.bucket, setting, has, want)
	}
	switch {
	case c.TTL != p.lease:
		return bad("TTL", c.TTL, fmt.Sprintf("%v (Lease)", p.lease))
	case c.LimitMarkerTTL <= 0:
		return bad("LimitMarkerTTL", c.LimitMarkerTTL, "a duration (expired keys must leave a marker)")
	case c.History != 1:
		return bad("History", c.History, 1)
	case c.Storage != jetstream.FileStorage:
		return bad("Storage", c.Storage, jetstream.FileStorage)
	case c.MaxValueSize > 0 && c.MaxValueSize < maxValueSize:
		return bad("MaxValueSize", c.MaxValueSize, fmt.Sprintf("%d at least", maxValueSize))
	case c.Mirror != nil:
		return bad("Mirror", c.Mirror.Name, "none")
	}
	return nil
}

// kvKey is the bucket's key of key in room: ROOMTOKEN.KEYTOKEN.
func kvKey(room, key string) string { return token(room) + "." + token(key) }

// value is what the bucket keeps for a member.
type value struct {
	Claim string `json:"c"`           // the claim's id: a NUID
	Since int64  `json:"s"`           // when it was claimed, Unix nanoseconds
	Info  []byte `json:"i,omitempty"` // the member's info
}

func decodeValue(b []byte) (value, bool) {
	var v value
	if err := json.Unmarshal(b, &v); err != nil || v.Claim == "" {
		return value{}, false
	}
	return v, true
}

// memberOf decodes an entry of room's keys.
func memberOf(e jetstream.KeyValueEntry) (sockets.Member, value, bool) {
	_, keyToken, ok := strings.Cut(e.Key(), ".")
	if !ok {
		return sockets.Member{}, value{}, false
	}
	key, ok := untoken(keyToken)
	if !ok {
		return sockets.Member{}, value{}, false
	}
	v, ok := decodeValue(e.Value())
	if !ok {
		return sockets.Member{}, value{}, false
	}
	return sockets.Member{Key: key, Info: v.Info, Since: time.Unix(0, v.Since)}, v, true
}

func (p *Presence) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func checkRoomKey(room, key string, info []byte) error {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return err
	}
	if err := sockets.CheckName("key", key, sockets.MaxKeyLen); err != nil {
		return err
	}
	if len(info) > sockets.MaxInfoLen {
		return fmt.Errorf("natsjs: info of %d bytes is over the %d allowed", len(info), sockets.MaxInfoLen)
	}
	return nil
}

// isTaken reports whether err says the key exists (a create that lost).
func isTaken(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Claim creates the member's key: the KV Create is the atomic claim, one
// winner among any number of instances. The key lives for the Lease; the
// store renews it every third of the Lease until Release or Close.
func (p *Presence) Claim(ctx context.Context, room, key string, info []byte) (sockets.Claim, error) {
	if err := checkRoomKey(room, key, info); err != nil {
		return nil, fmt.Errorf("natsjs: claim: %w", err)
	}
	if p.isClosed() {
		return nil, fmt.Errorf("natsjs: claim %q in room %q: %w", key, room, sockets.ErrStoreClosed)
	}
	if !p.nc.IsConnected() {
		return nil, fmt.Errorf("natsjs: claim %q in room %q: %w", key, room, ErrNotConnected)
	}
	now := time.Now()
	v := value{Claim: nuid.Next(), Since: now.UnixNano(), Info: info}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("natsjs: claim %q in room %q: %w", key, room, err)
	}
	ctx, cancel := bound(ctx, p.timeout)
	defer cancel()
	k := kvKey(room, key)
	rev, err := p.kv.Create(ctx, k, data)
	if isTaken(err) {
		return nil, fmt.Errorf("natsjs: claim %q in room %q: %w", key, room, sockets.ErrKeyTaken)
	}
	if err != nil {
		return nil, fmt.Errorf("natsjs: claim %q in room %q: %w", key, room, err)
	}
	c := &claim{p: p, room: room, key: key, kvKey: k, id: v.Claim, data: data, rev: rev, renewed: now, lost: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Release(ctx)
		return nil, fmt.Errorf("natsjs: claim %q in room %q: %w", key, room, sockets.ErrStoreClosed)
	}
	p.claims[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// claim is a key held by this store.
type claim struct {
	p     *Presence
	room  string
	key   string
	kvKey string
	id    string
	data  []byte

	mu       sync.Mutex // orders renewals and the release
	rev      uint64     // the key's revision, as last written
	renewed  time.Time  // when the last write that succeeded was sent
	released bool
	lost     chan struct{}
	isLost   bool
}

// Lost is closed when the claim ended without Release: a renewal found the
// key gone or another claim's, or a Lease passed since the last renewal
// that succeeded (the server has expired the key, or will as soon as it
// is back).
func (c *claim) Lost() <-chan struct{} { return c.lost }

// markLost ends the claim. Lock held.
func (c *claim) markLost() {
	if c.isLost || c.released {
		return
	}
	c.isLost = true
	close(c.lost)
	c.p.mu.Lock()
	delete(c.p.claims, c)
	c.p.mu.Unlock()
}

// Release purges the key, if it is still this claim's (a purge conditional
// on the revision last written). A claim already lost, or released,
// releases nothing.
func (c *claim) Release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || c.isLost {
		c.released = true
		return nil
	}
	c.released = true
	c.p.mu.Lock()
	delete(c.p.claims, c)
	if !c.p.closed {
		c.p.releasing.Add(1)
		defer c.p.releasing.Done()
	}
	c.p.mu.Unlock()
	ctx, cancel := bound(ctx, c.p.timeout)
	defer cancel()
	err := c.p.kv.Purge(ctx, c.kvKey, jetstream.LastRevision(c.rev))
	if isTaken(err) {
		// A renewal's answer lost: the key may still be ours, at a later
		// revision.
		if rev, ok := c.current(ctx); ok {
			err = c.p.kv.Purge(ctx, c.kvKey, jetstream.LastRevision(rev))
		} else {
			return nil // gone, or another claim's: nothing to release
		}
	}
	if err != nil {
		return fmt.Errorf("natsjs: release %q in room %q (it ends with its lease, %v): %w", c.key, c.room, c.p.lease, err)
	}
	return nil
}

// current returns the key's revision if it holds this claim.
func (c *claim) current(ctx context.Context) (uint64, bool) {
	e, err := c.p.kv.Get(ctx, c.kvKey)
	if err != nil {
		return 0, false
	}
	v, ok := decodeValue(e.Value())
	if !ok || v.Claim != c.id {
		return 0, false
	}
	return e.Revision(), true
}

// renewEvery is how often claims are renewed: three times a lease.
func (p *Presence) renewEvery() time.Duration { return p.lease / 3 }

// renewer renews every claim every third of the lease, and at once after
// a reconnect, when it also asks the watchers to read their rooms again;
// until Close.
func (p *Presence) renewer() {
	defer close(p.renewDone)
	t := time.NewTicker(p.renewEvery())
	defer t.Stop()
	for {
		select {
		case <-p.stopRenew:
			return
		case <-t.C:
		case <-p.status:
			p.mu.Lock()
			for w := range p.watchers {
				w.poke()
			}
			p.mu.Unlock()
		}
		p.mu.Lock()
		cs := make([]*claim, 0, len(p.claims))
		for c := range p.claims {
			cs = append(cs, c)
		}
		p.mu.Unlock()
		for _, c := range cs {
			select {
			case <-p.stopRenew:
				return
			default:
			}
			c.renew()
		}
	}
}

// renew writes the claim's value again, conditional on its revision, which
// starts its lease over.
func (c *claim) renew() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || c.isLost {
		return
	}
	p := c.p
	if time.Since(c.renewed) >= p.lease {
		c.markLost()
		return
	}
	if !p.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(p.timeout, p.renewEvery()))
	defer cancel()
	sent := time.Now()
	rev, err := p.kv.Update(ctx, c.kvKey, c.data, c.rev)
	switch {
	case err == nil:
		c.rev, c.renewed = rev, sent
	case isTaken(err):
		if rev, ok := c.current(ctx); ok {
			c.rev = rev // a renewal's answer was lost; the next one will do
			return
		}
		if ctx.Err() == nil {
			c.markLost()
		}
	}
	// Other errors: the server is away; try again at the next tick, until
	// the lease has passed.
}

// Members returns the members of room, ordered by key, read from the
// bucket with a watcher of the room's keys. When NATS cannot be reached,
// it returns the members it last read for room (nil if none) with an error
// wrapping sockets.ErrStale.
func (p *Presence) Members(ctx context.Context, room string) ([]sockets.Member, error) {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, fmt.Errorf("natsjs: members: %w", err)
	}
	if p.isClosed() {
		return nil, fmt.Errorf("natsjs: members of room %q: %w", room, sockets.ErrStoreClosed)
	}
	if !p.nc.IsConnected() {
		return p.stale(room, ErrNotConnected)
	}
	ctx, cancel := bound(ctx, p.timeout)
	defer cancel()
	w, err := p.kv.Watch(ctx, token(room)+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return p.stale(room, err)
	}
	defer w.Stop()
	var ms []sockets.Member
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return p.stale(room, errors.New("the watcher ended"))
			}
			if e == nil {
				slices.SortFunc(ms, func(a, b sockets.Member) int { return strings.Compare(a.Key, b.Key) })
				p.remember(room, ms)
				return ms, nil
			}
			if m, _, ok := memberOf(e); ok && e.Operation() == jetstream.KeyValuePut {
				ms = append(ms, m)
			}
		case <-ctx.Done():
			return p.stale(room, ctx.Err())
		}
	}
}

// Rooms returns every room with members, with their number, read from the
// bucket's keys (not their values) with one KV watcher of the whole
// bucket, within Timeout.
func (p *Presence) Rooms(ctx context.Context) ([]sockets.RoomCount, error) {
	if p.isClosed() {
		return nil, fmt.Errorf("natsjs: listing rooms: %w", sockets.ErrStoreClosed)
	}
	if !p.nc.IsConnected() {
		return nil, fmt.Errorf("natsjs: listing rooms: %w", ErrNotConnected)
	}
	ctx, cancel := bound(ctx, p.timeout)
	defer cancel()
	w, err := p.kv.WatchAll(ctx, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("natsjs: listing rooms: %w", err)
	}
	defer w.Stop()
	counts := map[string]int{} // by room token
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("natsjs: listing rooms: the watcher ended")
			}
			if e != nil {
				if roomToken, _, ok := strings.Cut(e.Key(), "."); ok && e.Operation() == jetstream.KeyValuePut {
					counts[roomToken]++
				}
				continue
			}
			out := make([]sockets.RoomCount, 0, len(counts))
			for t, n := range counts {
				if room, ok := untoken(t); ok {
					out = append(out, sockets.RoomCount{Room: room, Members: n})
				}
			}
			return out, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("natsjs: listing rooms: %w", ctx.Err())
		}
	}
}

// remember keeps ms as room's last known members.
func (p *Presence) remember(room string, ms []sockets.Member) {
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if _, ok := p.cache[room]; !ok && len(p.cache) >= maxCachedRooms {
		for r := range p.cache { // forget one, any
			delete(p.cache, r)
			break
		}
	}
	p.cache[room] = slices.Clone(ms)
}

// stale returns room's last known members with an error wrapping
// sockets.ErrStale and why.
func (p *Presence) stale(room string, why error) ([]sockets.Member, error) {
	p.cacheMu.Lock()
	ms := slices.Clone(p.cache[room])
	p.cacheMu.Unlock()
	return ms, fmt.Errorf("natsjs: members of room %q: %w: %w", room, sockets.ErrStale, why)
}

// watcher is one Watch: a KV watcher of the room's keys, and the goroutine
// that turns its entries into joins and leaves.
type watcher struct {
	p       *Presence
	gate    *gate
	room    string
	resync  chan struct{}    // the connection is back: read the room again
	present map[string]value // by key: the members as this watcher knows them; its goroutine's
}

// kvWatch is a KV watcher of a room's keys with the context it lives by.
type kvWatch struct {
	kw     jetstream.KeyWatcher
	cancel context.CancelFunc
}

// close stops the KV watcher; what it still has is read and dropped, so
// that its subscription's callback is never left blocked.
func (k kvWatch) close() {
	k.kw.Stop()
	k.cancel()
	go func() {
		for range k.kw.Updates() {
		}
	}()
}

// openWatch makes a KV watcher of room's keys and reads the keys there
// now, within Timeout.
func (p *Presence) openWatch(room string) (kvWatch, map[string]value, error) {
	// The KV watcher lives as long as its context: cancelled by close, or
	// by the timer if setting up takes longer than Timeout.
	ctx, cancel := context.WithCancel(context.Background())
	setup := time.AfterFunc(p.timeout, cancel)
	kw, err := p.kv.Watch(ctx, token(room)+".*")
	if err != nil {
		setup.Stop()
		cancel()
		return kvWatch{}, nil, err
	}
	k := kvWatch{kw: kw, cancel: cancel}
	present := map[string]value{}
	for {
		select {
		case e, ok := <-kw.Updates():
			switch {
			case !ok:
				setup.Stop()
				k.close()
				return kvWatch{}, nil, errors.New("the KV watcher ended")
			case e != nil:
				if m, v, ok := memberOf(e); ok && e.Operation() == jetstream.KeyValuePut {
					present[m.Key] = v
				}
				continue
			}
		case <-ctx.Done():
		}
		if !setup.Stop() {
			k.close()
			return kvWatch{}, nil, fmt.Errorf("the KV watcher was not set up within %v", p.timeout)
		}
		return k, present, nil
	}
}

// Watch calls f with a join for each member of room, ordered by key,
// before it returns, then with each join and leave after that, in order,
// from one goroutine, until stop is called (stop waits for a call in
// progress, unless called from f itself). A join is a key created; a
// renewal is not reported; a leave is a key purged (Release, Close) or
// expired (a crashed instance's, after the Lease), with the member's info
// as last known. After a reconnect the watcher reads the room again, and
// reports the difference with what it knew.
func (p *Presence) Watch(room string, f func(sockets.PresenceEvent)) (stop func(), err error) {
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, fmt.Errorf("natsjs: watch: %w", err)
	}
	if p.isClosed() {
		return nil, fmt.Errorf("natsjs: watch room %q: %w", room, sockets.ErrStoreClosed)
	}
	if !p.nc.IsConnected() {
		return nil, fmt.Errorf("natsjs: watch room %q: %w", room, ErrNotConnected)
	}
	k, present, err := p.openWatch(room)
	if err != nil {
		return nil, fmt.Errorf("natsjs: watch room %q: %w", room, err)
	}
	w := &watcher{p: p, gate: newGate(), room: room, resync: make(chan struct{}, 1), present: map[string]value{}}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		k.close()
		return nil, fmt.Errorf("natsjs: watch room %q: %w", room, sockets.ErrStoreClosed)
	}
	p.watchers[w] = struct{}{}
	p.mu.Unlock()
	// The members now, before Watch returns: a caller that keeps a list
	// has it complete as soon as it has a stop function.
	for _, ev := range w.diff(present) {
		f(ev)
	}
	go w.run(k, f)
	return func() {
		p.mu.Lock()
		delete(p.watchers, w)
		p.mu.Unlock()
		w.stop()
	}, nil
}

func (w *watcher) stop() { w.gate.stop(func() {}) }

// poke asks the watcher to read its room again.
func (w *watcher) poke() {
	select {
	case w.resync <- struct{}{}:
	default:
	}
}

// run is a watcher's goroutine: it reports every change after the members
// Watch reported.
func (w *watcher) run(k kvWatch, f func(sockets.PresenceEvent)) {
	defer close(w.gate.done)
	defer func() { k.close() }()
	emit := func(evs []sockets.PresenceEvent) {
		for _, ev := range evs {
			w.gate.call(func() { f(ev) })
		}
	}
	updates := k.kw.Updates()
	for {
		select {
		case <-w.gate.stopCh:
			return
		case e, ok := <-updates:
			if !ok {
				updates = nil // until the connection is back
				continue
			}
			if e != nil {
				emit(w.apply(e))
			}
		case <-w.resync:
			// Read the room again, until it works or the watcher stops.
			for pause := 100 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
				if w.gate.isStopped() {
					return
				}
				nk, present, err := w.p.openWatch(w.room)
				if err == nil {
					k.close()
					k, updates = nk, nk.kw.Updates()
					emit(w.diff(present))
					break
				}
				if !w.gate.sleep(pause) {
					return
				}
			}
		}
	}
}

// apply takes one entry of the KV watcher into present, and returns the
// events it makes.
func (w *watcher) apply(e jetstream.KeyValueEntry) []sockets.PresenceEvent {
	if e.Operation() == jetstream.KeyValuePut {
		m, v, ok := memberOf(e)
		if !ok {
			return nil
		}
		old, present := w.present[m.Key]
		if present && old.Claim == v.Claim {
			return nil // a renewal
		}
		var evs []sockets.PresenceEvent
		if present {
			evs = append(evs, sockets.PresenceEvent{Room: w.room, Key: m.Key, Info: old.Info, Left: true})
		}
		w.present[m.Key] = v
		return append(evs, sockets.PresenceEvent{Room: w.room, Key: m.Key, Info: v.Info})
	}
	// Deleted, purged, expired.
	_, keyToken, _ := strings.Cut(e.Key(), ".")
	key, ok := untoken(keyToken)
	if !ok {
		return nil
	}
	old, present := w.present[key]
	if !present {
		return nil
	}
	delete(w.present, key)
	return []sockets.PresenceEvent{{Room: w.room, Key: key, Info: old.Info, Left: true}}
}

// diff replaces present with now, and returns the events between them, by
// key.
func (w *watcher) diff(now map[string]value) []sockets.PresenceEvent {
	keys := make([]string, 0, len(w.present)+len(now))
	for k := range w.present {
		keys = append(keys, k)
	}
	for k := range now {
		if _, ok := w.present[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var evs []sockets.PresenceEvent
	for _, k := range keys {
		old, was := w.present[k]
		v, is := now[k]
		if was && (!is || old.Claim != v.Claim) {
			evs = append(evs, sockets.PresenceEvent{Room: w.room, Key: k, Info: old.Info, Left: true})
		}
		if is && (!was || old.Claim != v.Claim) {
			evs = append(evs, sockets.PresenceEvent{Room: w.room, Key: k, Info: v.Info})
		}
	}
	w.present = now
	return evs
}

// Close stops renewing, stops every watcher, and releases every claim made
// through the store (a purge each, within Timeout in all); claims it could
// not release end with their lease. The bucket stays, and so does the
// connection.
func (p *Presence) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ws := p.watchers
	p.watchers = nil
	cs := make([]*claim, 0, len(p.claims))
	for c := range p.claims {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	close(p.stopRenew)
	<-p.renewDone
	p.nc.RemoveStatusListener(p.status)
	for w := range ws {
		w.stop()
	}
	p.releasing.Wait() // each is bounded by p.timeout
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	var errs []error
	if len(cs) > 0 && !p.nc.IsConnected() {
		return fmt.Errorf("natsjs: close: %d claims not released (they end with their lease, %v): %w", len(cs), p.lease, ErrNotConnected)
	}
	for _, c := range cs {
		if err := c.Release(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
