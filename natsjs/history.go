package natsjs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
)

// Defaults of HistoryOptions.
const (
	// DefaultStream names the history's stream.
	DefaultStream = "SOCKETS_HISTORY"
	// DefaultSubjectPrefix starts the subject of every room.
	DefaultSubjectPrefix = "sockets.history"
	// DefaultDuplicates is the de-duplication window: an Append retried
	// with the same id within it is stored once. It is shortened to
	// MaxAge when that is shorter (JetStream requires it).
	DefaultDuplicates = 2 * time.Minute
)

// Headers of the messages the history stores.
const (
	// HeaderType carries the WebSocket message type, 1 (text) or 2
	// (binary), in decimal.
	HeaderType = "Sockets-Type"
	// HeaderID carries the Append's id, in unpadded base64url (so that
	// any id travels in a header); absent for an empty id.
	HeaderID = "Sockets-Id"
	// HeaderPrev carries the stream sequence of the room's previous
	// message, in decimal (0: the room kept none), as the server checked
	// it when it stored this one (Nats-Expected-Last-Subject-Sequence):
	// only on messages appended with HistoryOptions.ExactGaps. Follow
	// reads it to tell a gap exactly.
	HeaderPrev = "Sockets-Prev"
)

// MaxIDLen bounds the id given to Append, in bytes.
const MaxIDLen = 1024

// headerRoom is what the headers of a message may add to its payload, at
// most: a stream whose MaxMsgSize leaves less is refused.
const headerRoom = 4096

// HistoryOptions configures a History. A nil *HistoryOptions, or a zero
// field, means the default.
type HistoryOptions struct {
	// HistoryOptions are the store's limits: Size (MaxMsgsPerSubject of
	// the stream), MaxAge (the stream's MaxAge), MaxMessageSize (checked
	// by Append). Every instance sharing the stream must use the same
	// Size and MaxAge.
	sockets.HistoryOptions
	// Stream names the JetStream stream. Default: "SOCKETS_HISTORY".
	Stream string
	// SubjectPrefix starts every room's subject: PREFIX.TOKEN. Default:
	// "sockets.history".
	SubjectPrefix string
	// Duplicates is the de-duplication window. Default: 2 minutes, or
	// MaxAge when that is shorter.
	Duplicates time.Duration
	// Replicas is the stream's number of replicas, for a clustered
	// JetStream. Default: 1.
	Replicas int
	// Timeout bounds each call to the server. Default: DefaultTimeout.
	Timeout time.Duration
	// ExactGaps makes Append name the room's previous message
	// (HeaderPrev), which the server checks when it stores the message
	// (Nats-Expected-Last-Subject-Sequence), so that Follow tells a gap
	// exactly and asks the server nothing to, where without it a gap is
	// never missed but one may be told where there was none, and a
	// follower asks one round trip before delivering a record that came
	// after another room's (see the package documentation, "History:
	// gaps"). It costs appends to one room their concurrency: they go
	// one at a time per History, and instances appending to one room at
	// once are refused and publish again (more than one round trip for
	// some appends). Default: false, but a stream whose rooms keep one
	// record (Size 1) always chains: without it, each message would tell
	// a gap.
	ExactGaps bool
}

// History is a sockets.HistoryStore on a JetStream stream: see the package
// documentation. Its methods are safe for concurrent use.
type History struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	name    string
	prefix  string
	opts    sockets.HistoryOptions
	dup     time.Duration
	timeout time.Duration
	chain   bool // HistoryOptions.ExactGaps, or Size 1
	epoch   atomic.Pointer[string]
	// directSubject is where the stream answers direct gets.
	directSubject string

	mu        sync.Mutex
	closed    bool
	followers map[*follower]struct{}
	rooms     map[string]*roomState // rooms appended to or followed: see use
}

// roomState is what a History knows of a room it appends to or follows.
type roomState struct {
	// turn is a token, with ExactGaps: one Append of the room at a time
	// from this History, so that its own appends never race for the
	// room's next place (the server refuses all but one of those that do).
	turn chan struct{}
	// last is the newest sequence of the room this History has seen (from
	// its acks, the server's refusals and its followers): the guess an
	// Append with ExactGaps sends as the room's last message. A wrong guess costs a
	// retry, never a wrong record.
	last atomic.Uint64
	// users counts the Appends and followers holding it, under
	// History.mu.
	users int
}

// maxIdleRooms bounds the rooms a History keeps a roomState for while no
// Append or follower holds them.
const maxIdleRooms = 4096

// use returns room's state, held until done is called with it.
func (h *History) use(room string) *roomState {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.rooms[room]
	if rs == nil {
		rs = &roomState{turn: make(chan struct{}, 1)}
		h.rooms[room] = rs
	}
	rs.users++
	return rs
}

// done releases what use returned; the state is forgotten when nobody
// holds it and too many rooms are kept.
func (h *History) done(room string, rs *roomState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs.users--
	if rs.users == 0 && len(h.rooms) > maxIdleRooms {
		delete(h.rooms, room)
	}
}

// saw raises the room's last sequence known to seq.
func (rs *roomState) saw(seq uint64) {
	for {
		old := rs.last.Load()
		if seq <= old || rs.last.CompareAndSwap(old, seq) {
			return
		}
	}
}

var _ sockets.HistoryStore = (*History)(nil)

// NewHistory returns a History over nc, which the caller keeps (Close
// leaves it open; it should reconnect forever, nats.MaxReconnects(-1)).
// It creates the stream when it does not exist, and refuses one that
// exists with settings these options cannot work with (an error wrapping
// ErrIncompatible names the setting; the stream is not changed), and a
// server without JetStream (ErrNoJetStream).
func NewHistory(ctx context.Context, nc *nats.Conn, opts *HistoryOptions) (*History, error) {
	if err := checkConn(nc); err != nil {
		return nil, err
	}
	var o HistoryOptions
	if opts != nil {
		o = *opts
	}
	o.HistoryOptions = o.HistoryOptions.WithDefaults()
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if !validName(o.Stream) {
		return nil, fmt.Errorf("natsjs: stream name %q: only letters, digits, - and _", o.Stream)
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = DefaultSubjectPrefix
	}
	if err := checkPrefix(o.SubjectPrefix); err != nil {
		return nil, err
	}
	if o.Duplicates <= 0 {
		o.Duplicates = DefaultDuplicates
	}
	if o.MaxAge > 0 {
		if o.MaxAge < 100*time.Millisecond {
			return nil, fmt.Errorf("natsjs: MaxAge %v: JetStream needs 100ms at least", o.MaxAge)
		}
		o.Duplicates = min(o.Duplicates, o.MaxAge)
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsjs: %w", err)
	}
	ctx, cancel := bound(ctx, o.Timeout)
	defer cancel()
	if _, err := checkJetStream(ctx, js); err != nil {
		return nil, err
	}
	h := &History{
		nc: nc, js: js, name: o.Stream, prefix: o.SubjectPrefix, opts: o.HistoryOptions,
		dup: o.Duplicates, timeout: o.Timeout, chain: o.ExactGaps || o.Size < 2, followers: map[*follower]struct{}{},
		rooms: map[string]*roomState{}, directSubject: jetstream.DefaultAPIPrefix + "DIRECT.GET." + o.Stream,
	}
	want := h.streamConfig(o.Replicas)
	stream, err := js.Stream(ctx, h.name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Made meanwhile, by another instance or with other settings.
			stream, err = js.Stream(ctx, h.name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natsjs: stream %s: %w", h.name, err)
	}
	info := stream.CachedInfo()
	if err := h.checkStream(info.Config); err != nil {
		return nil, err
	}
	h.stream = stream
	h.setEpoch(info.Created)
	return h, nil
}

// streamConfig is the stream these options make.
func (h *History) streamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              h.name,
		Description:       "sockets: room history, one subject per room",
		Subjects:          []string{h.prefix + ".>"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(h.opts.Size),
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		MaxAge:            h.opts.MaxAge,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		Duplicates:        h.dup,
		AllowDirect:       true,
	}
}

// checkStream refuses a stream the history cannot work with, naming the
// first setting that differs.
func (h *History) checkStream(c jetstream.StreamConfig) error {
	bad := func(setting string, has, want any) error {
		return fmt.Errorf("%w: stream %s has %s %v, these options need %v (change the options, or the stream yourself)",
			ErrIncompatible, h.name, setting, has, want)
	}
	subject := h.prefix + ".>"
	switch {
	case !slices.Contains(c.Subjects, subject):
		return bad("Subjects", c.Subjects, "["+subject+"] among them")
	case c.Mirror != nil:
		return bad("Mirror", c.Mirror.Name, "none")
	case c.Sealed:
		return bad("Sealed", true, false)
	case c.NoAck:
		return bad("NoAck", true, false)
	case c.Retention != jetstream.LimitsPolicy:
		return bad("Retention", c.Retention, jetstream.LimitsPolicy)
	case c.Discard != jetstream.DiscardOld:
		return bad("Discard", c.Discard, jetstream.DiscardOld)
	case c.MaxMsgsPerSubject != int64(h.opts.Size):
		return bad("MaxMsgsPerSubject", c.MaxMsgsPerSubject, fmt.Sprintf("%d (Size)", h.opts.Size))
	case c.MaxAge != h.opts.MaxAge:
		return bad("MaxAge", c.MaxAge, fmt.Sprintf("%v (MaxAge)", h.opts.MaxAge))
	case c.Storage != jetstream.FileStorage:
		return bad("Storage", c.Storage, jetstream.FileStorage)
	case c.Duplicates != h.dup:
		return bad("Duplicates", c.Duplicates, fmt.Sprintf("%v (Duplicates)", h.dup))
	case c.MaxMsgSize > 0 && int(c.MaxMsgSize) < h.opts.MaxMessageSize+headerRoom:
		return bad("MaxMsgSize", c.MaxMsgSize, fmt.Sprintf("%d at least (MaxMessageSize and headers)", h.opts.MaxMessageSize+headerRoom))
	case c.SubjectDeleteMarkerTTL > 0:
		// Markers would be records no Append made.
		return bad("SubjectDeleteMarkerTTL", c.SubjectDeleteMarkerTTL, 0)
	case c.AllowMsgTTL:
		// A message's own TTL would drop it out of the room's order.
		return bad("AllowMsgTTL", true, false)
	}
	return nil
}

// Epoch returns the current epoch: the stream's creation time, in
// nanoseconds since 1970, base 36.
func (h *History) Epoch() string { return *h.epoch.Load() }

func (h *History) setEpoch(created time.Time) string {
	e := strconv.FormatInt(created.UnixNano(), 36)
	if old := h.epoch.Load(); old == nil || *old != e {
		h.epoch.Store(&e)
	}
	return e
}

// subject is room's subject.
func (h *History) subject(room string) string { return h.prefix + "." + token(room) }

// dedupID is the Nats-Msg-Id of an Append: the id, scoped to its room (the
// stream de-duplicates across subjects), hashed to a fixed length.
func dedupID(room, id string) string {
	sum := sha256.Sum256([]byte(room + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (h *History) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *History) errClosed(what, room string) error {
	return fmt.Errorf("natsjs: %s room %q: %w", what, room, sockets.ErrStoreClosed)
}

// Append stores a message in room: one JetStream publish, answered once
// the stream has stored it. An id seen within the de-duplication window
// (in this room) returns the first one's position; an empty id is never
// de-duplicated. While the connection is down it fails at once with
// ErrNotConnected; an error after the publish was sent (a timeout) leaves
// it unknown whether the message was stored: retrying with the same id
// stores it at most once. With HistoryOptions.ExactGaps the publish names
// the room's last message (HeaderPrev): the server refuses it if another
// came meanwhile, and Append tries again after the newest; appends to one
// room from one History then go one at a time.
func (h *History) Append(ctx context.Context, room string, messageType int, data []byte, id string) (sockets.Position, error) {
	if h.isClosed() {
		return sockets.Position{}, h.errClosed("append to", room)
	}
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return sockets.Position{}, fmt.Errorf("natsjs: append: %w", err)
	}
	if err := sockets.CheckMessage(messageType, data, h.opts.MaxMessageSize); err != nil {
		return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: %w", room, err)
	}
	if len(id) > MaxIDLen {
		return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: an id of %d bytes is over the %d allowed", room, len(id), MaxIDLen)
	}
	if !h.nc.IsConnected() {
		return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: %w", room, ErrNotConnected)
	}
	subject := h.subject(room)
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(HeaderType, strconv.Itoa(messageType))
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(h.name)}
	if id != "" {
		msg.Header.Set(HeaderID, base64.RawURLEncoding.EncodeToString([]byte(id)))
		opts = append(opts, jetstream.WithMsgID(dedupID(room, id)))
	}
	ctx, cancel := bound(ctx, h.timeout)
	defer cancel()
	if !h.chain {
		ack, err := h.js.PublishMsg(ctx, msg, opts...)
		if err != nil {
			return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: %w", room, err)
		}
		return sockets.Position{Epoch: h.Epoch(), Offset: ack.Sequence}, nil
	}
	rs := h.use(room)
	defer h.done(room, rs)
	select {
	case rs.turn <- struct{}{}:
		defer func() { <-rs.turn }()
	case <-ctx.Done():
		return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: waiting for the room's previous append: %w", room, ctx.Err())
	}
	prev := rs.last.Load()
	for {
		msg.Header.Set(HeaderPrev, strconv.FormatUint(prev, 10))
		expect := jetstream.WithExpectLastSequencePerSubject(prev)
		ack, err := h.js.PublishMsg(ctx, msg, append(opts[:len(opts):len(opts)], expect)...)
		if err == nil {
			if !ack.Duplicate {
				rs.saw(ack.Sequence)
			}
			return sockets.Position{Epoch: h.Epoch(), Offset: ack.Sequence}, nil
		}
		last, ok, lerr := h.lastAfterRefusal(ctx, subject, err)
		switch {
		case lerr != nil:
			return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: %w", room, lerr)
		case !ok:
			return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: %w", room, err)
		}
		// Another message of the room came first (from another instance,
		// or the room's records expired): after it, then.
		if last == prev {
			// Refused, yet the room ends where it was said to: a message of
			// the room is in flight on a replicated stream. Let it land.
			select {
			case <-time.After(refusedPause):
			case <-ctx.Done():
				return sockets.Position{}, fmt.Errorf("natsjs: append to room %q: %w", room, err)
			}
		}
		rs.last.Store(last)
		prev = last
	}
}

// refusedPause is how long Append waits before publishing again when the
// server refused a publish for a message of the room still in flight.
const refusedPause = time.Millisecond

// lastAfterRefusal reports whether err is the server's refusal of a
// publish whose expected last sequence of the subject was not the
// subject's, and then the subject's last sequence (0: it keeps nothing):
// from the refusal itself, or asked of the stream when the refusal does
// not say (a replicated stream with a message of the subject in flight).
func (h *History) lastAfterRefusal(ctx context.Context, subject string, err error) (last uint64, refused bool, _ error) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0, false, nil
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence:
		if n, ok := strings.CutPrefix(apiErr.Description, "wrong last sequence: "); ok {
			if last, err := strconv.ParseUint(n, 10, 64); err == nil {
				return last, true, nil
			}
		}
	case jetstream.JSErrCodeStreamWrongLastSequenceConstant:
	default:
		return 0, false, nil
	}
	m, err := h.stream.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, true, nil
	case err != nil:
		return 0, true, fmt.Errorf("the room's last message, after a refused publish: %w", err)
	}
	return m.Sequence, true, nil
}

// prevOf reads HeaderPrev: ok is false when there is none (a message
// stored before HeaderPrev existed, or not by Append).
func prevOf(hdr nats.Header) (prev uint64, ok bool) {
	v := hdr.Get(HeaderPrev)
	if v == "" {
		return 0, false
	}
	prev, err := strconv.ParseUint(v, 10, 64)
	return prev, err == nil
}

// record makes the Record of a stored message, or reports false for a
// message no Append made (no valid type header, a bad id, text that is not
// UTF-8): those are skipped.
func (h *History) record(room string, seq uint64, hdr nats.Header, data []byte, at time.Time) (sockets.Record, bool) {
	typ, err := strconv.Atoi(hdr.Get(HeaderType))
	if err != nil || sockets.CheckMessage(typ, data, 0) != nil {
		return sockets.Record{}, false
	}
	var id string
	if enc := hdr.Get(HeaderID); enc != "" {
		b, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			return sockets.Record{}, false
		}
		id = string(b)
	}
	return sockets.Record{
		Room: room,
		Pos:  sockets.Position{Epoch: h.Epoch(), Offset: seq},
		Type: typ,
		Data: data,
		Time: at,
		ID:   id,
	}, true
}

// Read returns the records of room after since, oldest first, the newest
// limit of them (0: all). See the package documentation for when since
// cannot be recovered from (an error wrapping sockets.ErrCannotRecover).
func (h *History) Read(ctx context.Context, room string, since sockets.Position, limit int) ([]sockets.Record, error) {
	if h.isClosed() {
		return nil, h.errClosed("read", room)
	}
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, fmt.Errorf("natsjs: read: %w", err)
	}
	if !h.nc.IsConnected() {
		return nil, fmt.Errorf("natsjs: read room %q: %w", room, ErrNotConnected)
	}
	ctx, cancel := bound(ctx, h.timeout)
	defer cancel()
	subject := h.subject(room)
	var infoOpts []jetstream.StreamInfoOpt
	if limit > 0 {
		// How many messages the room has: where its last ones are.
		infoOpts = append(infoOpts, jetstream.WithSubjectFilter(subject))
	}
	info, err := h.stream.Info(ctx, infoOpts...)
	if err != nil {
		return nil, fmt.Errorf("natsjs: read room %q: stream %s: %w", room, h.name, err)
	}
	epoch := h.setEpoch(info.Created)
	last := info.State.LastSeq
	if !since.IsZero() {
		if since.Epoch != epoch {
			return nil, fmt.Errorf("natsjs: read room %q from %v: the stream's epoch is %s: %w", room, since, epoch, sockets.ErrCannotRecover)
		}
		if since.Offset > last {
			return nil, fmt.Errorf("natsjs: read room %q from %v: the stream ends at %d: %w", room, since, last, sockets.ErrCannotRecover)
		}
	}
	var recs []sockets.Record
	// Direct gets may be answered by any replica, and a replica may not
	// have the newest messages yet: a replicated stream is read by a
	// consumer, which its leader serves.
	direct := limit > 0 && info.Config.Replicas <= 1
	if direct {
		recs, err = h.readLast(ctx, room, subject, since.Offset+1, info.State.FirstSeq, last, info.State.Subjects[subject], limit)
		if errors.Is(err, errNoBatch) {
			direct = false
		} else if err != nil {
			return nil, fmt.Errorf("natsjs: read room %q: %w", room, err)
		}
	}
	if !direct {
		if recs, err = h.readFrom(ctx, room, subject, since.Offset+1, last); err != nil {
			return nil, err
		}
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	if since.IsZero() {
		// Records are dropped oldest first: if the oldest read is still
		// kept, every one after it was kept throughout the read.
		if len(recs) == 0 {
			return nil, nil
		}
		ok, err := h.stillKept(ctx, recs[0].Pos.Offset)
		if err != nil {
			return nil, fmt.Errorf("natsjs: read room %q: %w", room, err)
		}
		if ok {
			return slices.Clip(recs), nil
		}
	}
	// Records are dropped oldest first: whatever is older than the first
	// kept now was dropped, and everything from it on was kept throughout.
	first, err := h.firstKept(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("natsjs: read room %q: %w", room, err)
	}
	if !since.IsZero() {
		switch {
		case first == 0:
			// The room keeps nothing. Nothing was lost only if nothing
			// at all was appended after since.
			info, err := h.stream.Info(ctx)
			if err != nil {
				return nil, fmt.Errorf("natsjs: read room %q: stream %s: %w", room, h.name, err)
			}
			if since.Offset < info.State.LastSeq {
				return nil, fmt.Errorf("natsjs: read room %q from %v: the room keeps nothing, and messages were stored after it: %w", room, since, sockets.ErrCannotRecover)
			}
			return nil, nil
		case first > since.Offset:
			return nil, fmt.Errorf("natsjs: read room %q from %v: the oldest message kept is at %d: %w", room, since, first, sockets.ErrCannotRecover)
		}
	}
	i := 0
	for i < len(recs) && (first == 0 || recs[i].Pos.Offset < first) {
		i++
	}
	recs = recs[i:]
	if len(recs) == 0 {
		return nil, nil
	}
	return slices.Clip(recs), nil
}

// readBatch is how many messages one fetch of Read asks for.
const readBatch = 256

// readFrom reads the messages of subject from sequence start to last (and
// maybe a few more), with an ephemeral consumer of its own.
func (h *History) readFrom(ctx context.Context, room, subject string, start, last uint64) ([]sockets.Record, error) {
	if start > last {
		return nil, nil
	}
	cons, err := h.js.CreateConsumer(ctx, h.name, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 2 * h.timeout, // in case the delete below fails
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: read room %q: consumer: %w", room, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		h.js.DeleteConsumer(ctx, h.name, cons.CachedInfo().Name)
	}()
	pending := cons.CachedInfo().NumPending
	var recs []sockets.Record
	var delivered uint64 // the consumer's sequence: each message once, none skipped
	for pending > 0 {
		batch, err := cons.FetchNoWait(int(min(pending, readBatch)))
		if err != nil {
			return nil, fmt.Errorf("natsjs: read room %q: %w", room, err)
		}
		n := 0
		for msg := range batch.Messages() {
			md, err := msg.Metadata()
			if err != nil {
				return nil, fmt.Errorf("natsjs: read room %q: %w", room, err)
			}
			if md.Sequence.Consumer != delivered+1 {
				return nil, fmt.Errorf("natsjs: read room %q: message %d of the read came after %d (try again)", room, md.Sequence.Consumer, delivered)
			}
			delivered++
			n++
			pending = md.NumPending
			if md.Sequence.Stream > last {
				pending = 0 // stored after Read began: for Follow
			}
			if rec, ok := h.record(room, md.Sequence.Stream, msg.Headers(), msg.Data(), md.Timestamp); ok {
				recs = append(recs, rec)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("natsjs: read room %q: %w", room, err)
		}
		if n == 0 {
			break // dropped meanwhile
		}
	}
	return recs, nil
}

// firstKept returns the sequence of the oldest message kept on subject, 0
// when there is none.
func (h *History) firstKept(ctx context.Context, subject string) (uint64, error) {
	m, err := h.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("oldest message kept: %w", err)
	}
	return m.Sequence, nil
}

// Close stops every follower and refuses further calls. The stream stays,
// and so does the connection.
func (h *History) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	fs := h.followers
	h.followers = nil
	h.mu.Unlock()
	for f := range fs {
		f.gate.stop(f.it.Stop)
	}
	return nil
}
