package natsbroker

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/macaron-contrib/sockets"
)

// Headers of every message the broker publishes.
const (
	// HeaderInstance carries the publishing instance's id.
	HeaderInstance = "Sockets-Instance"
	// HeaderType carries the WebSocket message type, in decimal.
	HeaderType = "Sockets-Type"
)

// Defaults applied to zero fields of Options.
const (
	// DefaultPrefix is the first part of every subject.
	DefaultPrefix = "sockets.rooms"
	// DefaultReceiveBuffer is how many received messages may wait for the
	// hub before NATS drops more (a slow consumer).
	DefaultReceiveBuffer = 8192
	// DefaultReconnectBufSize is how many bytes a connection made by Connect
	// keeps of what is published while it reconnects.
	DefaultReconnectBufSize = 8 << 20
	// DefaultReconnectWait is the pause between reconnect attempts to a
	// server, for a connection made by Connect (plus up to 100ms jitter).
	DefaultReconnectWait = 500 * time.Millisecond
	// DefaultWriteTimeout is how long a write to the NATS server may block,
	// for a connection made by Connect (nats.FlusherTimeout), before the
	// connection is taken for broken and reconnected. nats.go writes
	// holding its connection's lock, so a server that stops reading holds
	// up every Publish, Subscribe and Unsubscribe for that long (nats.go's
	// own default is a minute).
	//
	// After a reconnect, nats.go sends what it kept meanwhile (up to
	// ReconnectBufSize) in one write under the same timeout, so a link
	// slower than ReconnectBufSize / DefaultWriteTimeout (8 MiB in 5s:
	// 1.6 MiB/s) should raise nats.FlusherTimeout through NATSOptions, or
	// lower ReconnectBufSize.
	DefaultWriteTimeout = 5 * time.Second
)

// MaxPlainRoomLen is the longest room name, in bytes, whose subject carries
// the name itself (base64url); longer names use a digest.
const MaxPlainRoomLen = 192

// Errors returned by a Broker.
var (
	// ErrClosed is returned by the methods of a closed Broker.
	ErrClosed = errors.New("natsbroker: broker closed")
	// ErrNotAttached is returned by Subscribe before Attach.
	ErrNotAttached = errors.New("natsbroker: Subscribe before Attach")
	// ErrAttached is returned by a second Attach: a broker serves one hub.
	ErrAttached = errors.New("natsbroker: already attached to a hub")
)

// Options configures a Broker. Zero fields mean the default.
type Options struct {
	// Prefix starts every subject: one or more dot-separated tokens,
	// without wildcards or whitespace. Default: "sockets.rooms". Instances
	// that share a NATS server and a prefix form one cluster of hubs.
	Prefix string
	// InstanceID names this instance in the HeaderInstance of what it
	// publishes; it must differ between instances. Default: a random NUID.
	InstanceID string
	// Logger receives disconnects, reconnects and failed publishes.
	// Default: log.New(os.Stderr, "[sockets/natsbroker] ", log.LstdFlags).
	Logger *log.Logger
	// ReceiveBuffer is how many received messages may wait for delivery to
	// the hub; NATS drops further ones (Stats.Dropped). Default: 8192.
	ReceiveBuffer int

	// ReconnectBufSize is, for Connect only, the bytes of publishes kept
	// while reconnecting; past it Publish fails. Negative: no buffering,
	// Publish fails as soon as the connection is down. Default: 8 MiB.
	ReconnectBufSize int
	// NATSOptions are applied by Connect after its own defaults, so they
	// can change any of them (ReconnectWait, TLS, credentials ...). Handlers
	// set here (disconnect, reconnect, closed, async error) are called after
	// the broker's own.
	NATSOptions []nats.Option
}

// Stats counts what a broker has done.
type Stats struct {
	// Published counts messages handed to the NATS client: sent, or kept
	// in its reconnect buffer. Not a proof of delivery.
	Published uint64 `json:"published"`
	// PublishFailed counts messages the client refused (connection closed,
	// reconnect buffer full, payload too large, broker closed): the other
	// instances will never get them.
	PublishFailed uint64 `json:"publish_failed"`
	// Received counts messages from other instances handed to the hub.
	Received uint64 `json:"received"`
	// SkippedOwn counts this instance's own messages echoed back by NATS
	// and not delivered again.
	SkippedOwn uint64 `json:"skipped_own"`
	// Malformed counts received messages without a valid HeaderType, and
	// text messages that are not valid UTF-8.
	Malformed uint64 `json:"malformed"`
	// Dropped counts messages NATS dropped because the hub fell behind by
	// more than Options.ReceiveBuffer (slow consumer).
	Dropped uint64 `json:"dropped"`
	// Disconnects counts losses of the connection to NATS.
	Disconnects uint64 `json:"disconnects"`
	// Reconnects counts successful reconnects.
	Reconnects uint64 `json:"reconnects"`
	// Subscriptions is the number of subjects subscribed now, PREFIX.all
	// included.
	Subscriptions int `json:"subscriptions"`
	// PublishLatency is how long each call to the NATS client's publish
	// took, failed ones included (messages refused before reaching the
	// client, such as a type that is neither text nor binary, are not
	// timed). It is short while the client buffers; a long one waited for
	// a NATS server that stopped reading (up to DefaultWriteTimeout for a
	// connection made by Connect).
	PublishLatency Latency `json:"publish_latency"`
}

// Broker is a sockets.Broker over core NATS. Its methods are safe for
// concurrent use.
type Broker struct {
	nc     *nats.Conn
	owned  bool // nc was made by Connect, and is closed by Close
	id     string
	prefix string
	log    *log.Logger

	msgs   chan *nats.Msg   // every subscription delivers here
	status chan nats.Status // connection events, for a connection given to New
	stop   chan struct{}    // closed by Close
	done   chan struct{}    // closed when the dispatcher has returned
	deliv  func(sockets.Envelope)

	// subMu orders Subscribe, Unsubscribe and Close, which call the NATS
	// client outside mu: a NATS connection that blocks writes must not hold
	// up the dispatcher or Stats.
	subMu sync.Mutex

	mu        sync.RWMutex
	closed    bool
	attached  bool
	rooms     map[string]*nats.Subscription // by room
	bySubject map[string]string             // subject -> room
	dropped   uint64                        // Dropped of the subscriptions already gone

	published, publishFailed, received, skippedOwn, malformed atomic.Uint64
	disconnects, reconnects                                   atomic.Uint64
	publishLatency                                            latency

	failedAtDisconnect atomic.Uint64
	lastFailLog        atomic.Int64 // unix nanoseconds of the last publish failure logged
	lastSlowLog        atomic.Int64 // same, for slow consumer errors
	closeOnce          sync.Once
}

var _ sockets.Broker = (*Broker)(nil)

// Connect dials the NATS server(s) at url (a comma-separated list is
// allowed) and returns a Broker that owns the connection and closes it in
// Close. The connection reconnects forever (MaxReconnects(-1)), waits
// DefaultReconnectWait between attempts to a server, gives up a write
// after DefaultWriteTimeout (and reconnects), keeps
// Options.ReconnectBufSize bytes of publishes while reconnecting, pings
// every 10s, asks the server not to echo its own messages, and logs
// disconnects and reconnects. Options.NATSOptions may override any of it.
// The first connection must succeed (nats.RetryOnFailedConnect(true) in
// NATSOptions changes that).
func Connect(url string, opts Options) (*Broker, error) {
	b, err := newBroker(opts)
	if err != nil {
		return nil, err
	}
	no := nats.GetDefaultOptions()
	no.Url = url
	bufSize := opts.ReconnectBufSize
	if bufSize == 0 {
		bufSize = DefaultReconnectBufSize
	}
	defaults := []nats.Option{
		nats.Name("sockets-natsbroker " + b.id),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(DefaultReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(bufSize),
		nats.FlusherTimeout(DefaultWriteTimeout),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.NoEcho(),
	}
	for _, o := range append(defaults, opts.NATSOptions...) {
		if err := o(&no); err != nil {
			return nil, fmt.Errorf("natsbroker: NATS option: %w", err)
		}
	}
	b.wrapHandlers(&no)
	nc, err := no.Connect()
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connecting to %s: %w", url, err)
	}
	b.nc, b.owned = nc, true
	b.start()
	return b, nil
}

// New returns a Broker over nc, which the caller keeps: Close leaves it
// open. nc may be shared with other users; the broker touches none of its
// handlers, and follows its disconnects and reconnects through a status
// listener. The caller chooses its reconnect policy; for an outage to be
// survived, nc should reconnect forever (nats.MaxReconnects(-1)) with a
// bounded reconnect buffer.
func New(nc *nats.Conn, opts Options) (*Broker, error) {
	if nc == nil {
		return nil, errors.New("natsbroker: nil *nats.Conn")
	}
	if nc.IsClosed() {
		return nil, fmt.Errorf("natsbroker: %w", nats.ErrConnectionClosed)
	}
	b, err := newBroker(opts)
	if err != nil {
		return nil, err
	}
	b.nc = nc
	b.status = nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	b.start()
	return b, nil
}

func newBroker(opts Options) (*Broker, error) {
	b := &Broker{
		id:        opts.InstanceID,
		prefix:    opts.Prefix,
		log:       opts.Logger,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		rooms:     make(map[string]*nats.Subscription),
		bySubject: make(map[string]string),
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	if err := checkPrefix(b.prefix); err != nil {
		return nil, err
	}
	if b.id == "" {
		b.id = nuid.Next()
	}
	if b.log == nil {
		b.log = log.New(os.Stderr, "[sockets/natsbroker] ", log.LstdFlags)
	}
	n := opts.ReceiveBuffer
	if n <= 0 {
		n = DefaultReceiveBuffer
	}
	b.msgs = make(chan *nats.Msg, n)
	return b, nil
}

// checkPrefix reports whether p is a valid literal subject.
func checkPrefix(p string) error {
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("natsbroker: invalid subject prefix %q", p)
		}
	}
	return nil
}

// RoomSubject returns the subject on which messages for room travel under
// prefix (DefaultPrefix if empty). Room "" is every room.
func RoomSubject(prefix, room string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	enc := base64.RawURLEncoding
	switch {
	case room == "":
		return prefix + ".all"
	case len(room) <= MaxPlainRoomLen:
		return prefix + ".room." + enc.EncodeToString([]byte(room))
	default:
		sum := sha256.Sum256([]byte(room))
		return prefix + ".hroom." + enc.EncodeToString(sum[:])
	}
}

// InstanceID returns the id this broker puts in HeaderInstance.
func (b *Broker) InstanceID() string { return b.id }

// Conn returns the NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Attach sets the function through which messages from other instances
// reach the hub. NewHub calls it once.
func (b *Broker) Attach(deliver func(sockets.Envelope)) error {
	if deliver == nil {
		return errors.New("natsbroker: Attach(nil)")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.attached:
		return ErrAttached
	}
	// Read by the dispatcher only for messages of subscriptions made after
	// this (Subscribe needs attached), so the mutex orders it.
	b.deliv = deliver
	b.attached = true
	return nil
}

// Subscribe starts delivering the messages other instances publish to room
// ("" for the messages to every room). Subscribing to a room already
// subscribed does nothing.
func (b *Broker) Subscribe(room string) error {
	subject := RoomSubject(b.prefix, room)
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.RLock()
	closed, attached, have := b.closed, b.attached, b.rooms[room] != nil
	b.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case !attached:
		return ErrNotAttached
	case have:
		return nil
	}
	// The channel is shared by all subscriptions, so nats.go's own limits
	// do not apply: the channel's capacity is the limit.
	sub, err := b.nc.ChanSubscribe(subject, b.msgs)
	if err != nil {
		return fmt.Errorf("natsbroker: subscribing to %s: %w", subject, err)
	}
	b.mu.Lock()
	b.rooms[room] = sub
	b.bySubject[subject] = room
	b.mu.Unlock()
	return nil
}

// Unsubscribe stops the delivery of room's messages. Unsubscribing from a
// room not subscribed does nothing. Messages for room already received may
// still be delivered.
// If the NATS client refuses, the room stays subscribed (and Unsubscribe
// may be called again).
func (b *Broker) Unsubscribe(room string) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.RLock()
	sub := b.rooms[room]
	b.mu.RUnlock()
	if sub == nil {
		return nil
	}
	dropped, err := unsubscribe(sub)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.dropped += dropped
	delete(b.rooms, room)
	delete(b.bySubject, sub.Subject)
	b.mu.Unlock()
	return nil
}

// unsubscribe ends sub, returning what NATS dropped of its messages.
func unsubscribe(sub *nats.Subscription) (dropped uint64, err error) {
	if n, err := sub.Dropped(); err == nil {
		dropped = uint64(n)
	}
	err = sub.Unsubscribe()
	if err == nil || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return dropped, nil // gone either way
	}
	return 0, fmt.Errorf("natsbroker: unsubscribing from %s: %w", sub.Subject, err)
}

// Publish hands env to the NATS client for the other instances, with its
// Data as the message body. It does not wait for the server: while the
// connection is down the message goes to the client's reconnect buffer. An
// error means the other instances will not get the message; it is counted
// in Stats.PublishFailed.
func (b *Broker) Publish(env sockets.Envelope) error {
	if env.Type != websocket.TextMessage && env.Type != websocket.BinaryMessage {
		b.failed(fmt.Errorf("message type %d is neither text nor binary", env.Type))
		return fmt.Errorf("natsbroker: cannot publish message type %d", env.Type)
	}
	if env.Type == websocket.TextMessage && !utf8.Valid(env.Data) {
		b.failed(errors.New("a text message that is not valid UTF-8"))
		return errors.New("natsbroker: cannot publish a text message that is not valid UTF-8")
	}
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		b.failed(ErrClosed)
		return ErrClosed
	}
	msg := &nats.Msg{
		Subject: RoomSubject(b.prefix, env.Room),
		Header: nats.Header{
			HeaderInstance: []string{b.id},
			HeaderType:     []string{strconv.Itoa(env.Type)},
		},
		Data: env.Data,
	}
	start := time.Now()
	err := b.nc.PublishMsg(msg)
	b.publishLatency.observe(time.Since(start))
	if err != nil {
		b.failed(err)
		return fmt.Errorf("natsbroker: publishing to room %q: %w", env.Room, err)
	}
	b.published.Add(1)
	return nil
}

// failed counts a message that could not be published and logs it, at most
// once a second.
func (b *Broker) failed(err error) {
	n := b.publishFailed.Add(1)
	if everySecond(&b.lastFailLog) {
		b.log.Printf("instance %s: a message could not be published to the other instances (%d so far): %v", b.id, n, err)
	}
}

// everySecond reports whether a second has passed since the time in last
// (unix nanoseconds), and if so sets it to now.
func everySecond(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(time.Second) && last.CompareAndSwap(prev, now)
}

// start runs the dispatcher.
func (b *Broker) start() {
	go b.dispatch()
}

// dispatch hands received messages to the hub and follows the connection's
// status (for New), until Close.
func (b *Broker) dispatch() {
	defer close(b.done)
	status := b.status // nil for Connect's connection, whose handlers count
	connected := true
	for {
		select {
		case m := <-b.msgs:
			b.handle(m)
		case s, ok := <-status:
			if !ok {
				status = nil
				continue
			}
			switch s {
			case nats.CONNECTED:
				if !connected {
					connected = true
					b.onReconnect(b.nc)
				}
			case nats.RECONNECTING, nats.DISCONNECTED:
				if connected {
					connected = false
					b.onDisconnect(b.nc.LastError())
				}
			case nats.CLOSED:
				b.log.Printf("instance %s: NATS connection closed", b.id)
			}
		case <-b.stop:
			return
		}
	}
}

func (b *Broker) handle(m *nats.Msg) {
	if m.Header.Get(HeaderInstance) == b.id {
		b.skippedOwn.Add(1)
		return
	}
	typ, err := strconv.Atoi(m.Header.Get(HeaderType))
	if err != nil || (typ != websocket.TextMessage && typ != websocket.BinaryMessage) {
		b.dropMalformed(m, "without a valid "+HeaderType+" header")
		return
	}
	if typ == websocket.TextMessage && !utf8.Valid(m.Data) {
		// As a text frame it would make browsers fail their connection.
		b.dropMalformed(m, "of type text that is not valid UTF-8")
		return
	}
	b.mu.RLock()
	room, ok := b.bySubject[m.Subject]
	deliver := b.deliv
	b.mu.RUnlock()
	if !ok {
		return // unsubscribed since: no local member wants it
	}
	b.received.Add(1)
	deliver(sockets.Envelope{Room: room, Type: typ, Data: m.Data})
}

// dropMalformed counts a message from another instance that cannot go to
// the hub, logging the first one.
func (b *Broker) dropMalformed(m *nats.Msg, why string) {
	if b.malformed.Add(1) == 1 {
		b.log.Printf("instance %s: dropping a message on %s %s (logged once)", b.id, m.Subject, why)
	}
}

func (b *Broker) onDisconnect(err error) {
	if b.isClosed() {
		return // Close ended the connection: nothing was lost
	}
	b.disconnects.Add(1)
	b.failedAtDisconnect.Store(b.publishFailed.Load())
	if err != nil {
		b.log.Printf("instance %s: disconnected from NATS: %v; reconnecting, local delivery goes on", b.id, err)
	} else {
		b.log.Printf("instance %s: disconnected from NATS; reconnecting, local delivery goes on", b.id)
	}
}

// isClosed reports whether Close has been called.
func (b *Broker) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

func (b *Broker) onReconnect(nc *nats.Conn) {
	b.reconnects.Add(1)
	lost := b.publishFailed.Load() - b.failedAtDisconnect.Load()
	b.log.Printf("instance %s: reconnected to NATS at %s; %d messages could not be published meanwhile",
		b.id, nc.ConnectedUrlRedacted(), lost)
}

// wrapHandlers makes the connection's handlers count and log, calling the
// ones the caller set after.
func (b *Broker) wrapHandlers(no *nats.Options) {
	prevDisc, prevDiscOld := no.DisconnectedErrCB, no.DisconnectedCB
	no.DisconnectedErrCB = func(nc *nats.Conn, err error) {
		b.onDisconnect(err)
		if prevDisc != nil {
			prevDisc(nc, err)
		} else if prevDiscOld != nil {
			prevDiscOld(nc)
		}
	}
	prevRec := no.ReconnectedCB
	no.ReconnectedCB = func(nc *nats.Conn) {
		b.onReconnect(nc) // b.nc may not be set yet
		if prevRec != nil {
			prevRec(nc)
		}
	}
	prevClosed := no.ClosedCB
	no.ClosedCB = func(nc *nats.Conn) {
		if !b.isClosed() {
			b.log.Printf("instance %s: NATS connection closed: %v", b.id, nc.LastError())
		}
		if prevClosed != nil {
			prevClosed(nc)
		}
	}
	prevErr := no.AsyncErrorCB
	no.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			// Counted through Dropped; log once in a while only.
			if everySecond(&b.lastSlowLog) {
				b.log.Printf("instance %s: the hub falls behind NATS, messages dropped: %v", b.id, err)
			}
		} else {
			b.log.Printf("instance %s: NATS error: %v", b.id, err)
		}
		if prevErr != nil {
			prevErr(nc, sub, err)
		}
	}
}

// Rooms returns the rooms subscribed now, sorted; "" (every room) included.
func (b *Broker) Rooms() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]string, 0, len(b.rooms))
	for r := range b.rooms {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Stats returns the broker's counters now.
func (b *Broker) Stats() Stats {
	b.mu.RLock()
	s := Stats{Subscriptions: len(b.rooms), Dropped: b.dropped}
	for _, sub := range b.rooms {
		if n, err := sub.Dropped(); err == nil {
			s.Dropped += uint64(n)
		}
	}
	b.mu.RUnlock()
	s.Published = b.published.Load()
	s.PublishFailed = b.publishFailed.Load()
	s.Received = b.received.Load()
	s.SkippedOwn = b.skippedOwn.Load()
	s.Malformed = b.malformed.Load()
	s.Disconnects = b.disconnects.Load()
	s.Reconnects = b.reconnects.Load()
	s.PublishLatency = b.publishLatency.snapshot()
	return s
}

// Close unsubscribes, stops delivering to the hub, and closes the NATS
// connection if Connect made it. No message is delivered after Close
// returns. It must not be called from the hub's deliver function. Closing
// twice does nothing.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		// subMu only while subscriptions end: a Subscribe waiting for it
		// then finds the broker closed. It is released before waiting for
		// the dispatcher, whose deliver function may itself wait for a
		// goroutine that is calling Subscribe.
		b.subMu.Lock()
		b.mu.Lock()
		b.closed = true
		subs := make([]*nats.Subscription, 0, len(b.rooms))
		for _, sub := range b.rooms {
			subs = append(subs, sub)
		}
		b.mu.Unlock()
		var dropped uint64
		for _, sub := range subs {
			if b.owned { // closing the connection drops them all at once
				if n, e := sub.Dropped(); e == nil {
					dropped += uint64(n)
				}
			} else if n, e := unsubscribe(sub); e != nil && err == nil {
				err = e
			} else {
				dropped += n
			}
		}
		b.mu.Lock()
		b.dropped += dropped
		clear(b.rooms)
		clear(b.bySubject)
		b.mu.Unlock()
		b.subMu.Unlock()
		if b.owned {
			b.nc.Close() // flushes what is buffered
		} else if b.status != nil {
			b.nc.RemoveStatusListener(b.status)
		}
		close(b.stop)
		<-b.done
	})
	return err
}
