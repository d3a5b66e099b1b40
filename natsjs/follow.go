package natsjs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
)

// follower is one Follow: an ordered consumer and the goroutine that
// delivers what it gets.
type follower struct {
	gate    *gate
	it      jetstream.MessagesContext
	room    *roomState // held while following: the follower tells it what it sees
	subject string
	// seen is the newest sequence of the room's subject the follower has
	// had (or the stream's last when Follow began): every message of the
	// room up to it was delivered, skipped as not a record, or older than
	// the Follow). Only the follower's goroutine uses it.
	seen uint64
	// began is when Follow asked for the stream's last sequence (on the
	// monotonic clock): every message after it was stored later.
	began time.Time
	// streamLimits is set when the stream drops messages by limits of its
	// own (MaxMsgs, MaxBytes), whatever a room's count.
	streamLimits bool
}

// Follow calls deliver with each record appended to room after Follow
// returns, in order, from one goroutine, until stop is called (stop waits
// for a delivery in progress, unless called from deliver itself). It uses
// an ordered consumer that starts after the stream's last message: it
// survives reconnects and server restarts, delivering what was stored
// meanwhile, in order and once, as long as it is still kept. The first
// record delivered after records the stream dropped unread (the follower
// fell more than Size behind, or was cut off longer than MaxAge) has
// Missed set: see the package documentation for how it is told.
func (h *History) Follow(room string, deliver func(sockets.Record)) (stop func(), err error) {
	if h.isClosed() {
		return nil, h.errClosed("follow", room)
	}
	if err := sockets.CheckName("room", room, sockets.MaxRoomLen); err != nil {
		return nil, fmt.Errorf("natsjs: follow: %w", err)
	}
	if !h.nc.IsConnected() {
		return nil, fmt.Errorf("natsjs: follow room %q: %w", room, ErrNotConnected)
	}
	ctx, cancel := bound(context.Background(), h.timeout)
	defer cancel()
	began := time.Now()
	info, err := h.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsjs: follow room %q: stream %s: %w", room, h.name, err)
	}
	h.setEpoch(info.Created)
	subject := h.subject(room)
	cons, err := h.js.OrderedConsumer(ctx, h.name, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       info.State.LastSeq + 1,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: follow room %q: consumer: %w", room, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(readBatch))
	if err != nil {
		return nil, fmt.Errorf("natsjs: follow room %q: %w", room, err)
	}
	f := &follower{
		gate: newGate(), it: it, subject: subject, seen: info.State.LastSeq, began: began,
		streamLimits: info.Config.MaxMsgs > 0 || info.Config.MaxBytes > 0,
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		it.Stop()
		return nil, h.errClosed("follow", room)
	}
	h.followers[f] = struct{}{}
	h.mu.Unlock()
	f.room = h.use(room)
	go h.follow(f, room, deliver)
	var once sync.Once
	return func() {
		h.mu.Lock()
		delete(h.followers, f)
		h.mu.Unlock()
		f.gate.stop(it.Stop)
		once.Do(func() { h.done(room, f.room) })
	}, nil
}

// follow is a follower's goroutine: it delivers what its reader
// received, in order.
func (h *History) follow(f *follower, room string, deliver func(sockets.Record)) {
	defer close(f.gate.done)
	received := make(chan jetstream.Msg, readBatch)
	readerDone := make(chan struct{})
	go f.read(received, readerDone)
	defer func() { <-readerDone }()
	missed := false // records of the room dropped before this follower had them
	// waiting are messages received and not handled yet; the first
	// certified of them are known to come after no gap.
	var waiting []jetstream.Msg
	certified := 0
	for {
		var msg jetstream.Msg
		if len(waiting) > 0 {
			msg, waiting = waiting[0], waiting[1:]
		} else {
			var ok bool
			if msg, ok = <-received; !ok {
				return
			}
		}
		sure := certified > 0
		if sure {
			certified--
		}
		md, err := msg.Metadata()
		if err != nil {
			continue // and so not seen: the next message tells the gap
		}
		seq := md.Sequence.Stream
		if seq <= f.seen {
			continue // the ordered consumer does not deliver twice; in case
		}
		if prev, ok := prevOf(msg.Headers()); ok {
			// Appended with ExactGaps: the server stored it only if the
			// room's last message was then prev.
			if prev > f.seen {
				missed = true
			}
		} else if !sure && seq != f.seen+1 {
			// Other messages came between (after f.seen, the next one
			// is no sign of a gap). Ask once for this message and every
			// one received before the question: what the answer rules
			// out, it rules out for all of them.
			waiting = drain(received, waiting)
			if h.nothingDropped(f) {
				certified = len(waiting)
			} else {
				missed = true
			}
		}
		f.seen = seq
		f.room.saw(seq)
		rec, ok := h.record(room, seq, msg.Headers(), msg.Data(), md.Timestamp)
		if !ok {
			continue // the gap, if any, goes with the next record
		}
		rec.Missed, missed = missed, false
		if !f.gate.call(func() { deliver(rec) }) {
			return
		}
	}
}

// read passes what the follower's consumer delivers to received, until
// the consumer is stopped; it closes received and done when it returns.
func (f *follower) read(received chan<- jetstream.Msg, done chan<- struct{}) {
	defer close(done)
	defer close(received)
	for {
		msg, err := f.it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || f.gate.isStopped() {
				return
			}
			// The ordered consumer recreates itself; this pause only
			// keeps an error it returns at once from spinning.
			if !f.gate.sleep(100 * time.Millisecond) {
				return
			}
			continue
		}
		select {
		case received <- msg:
		case <-f.gate.stopCh:
			return
		}
	}
}

// drain appends to waiting what received holds now, without waiting.
func drain(received <-chan jetstream.Msg, waiting []jetstream.Msg) []jetstream.Msg {
	for {
		select {
		case msg, ok := <-received:
			if !ok {
				return waiting
			}
			waiting = append(waiting, msg)
		default:
			return waiting
		}
	}
}

// nothingDropped reports whether the stream certainly dropped no message
// of the follower's room after f.seen until now, from the room's oldest
// message kept and its number of messages (one batched direct get).
func (h *History) nothingDropped(f *follower) bool {
	ctx, cancel := bound(context.Background(), h.timeout)
	defer cancel()
	got, err := h.fetch(ctx, "", f.subject, 1, math.MaxUint64, 1)
	if errors.Is(err, errNoBatch) {
		first, err := h.firstKept(ctx, f.subject)
		return err == nil && first != 0 && first <= f.seen
	}
	if err != nil {
		return false
	}
	// A message of the room at or before f.seen is still kept: nothing
	// after it was dropped (the room's messages leave oldest first).
	if got.total > 0 && got.first <= f.seen {
		return true
	}
	// The room keeps fewer than Size messages: had the stream dropped one
	// for the count, the room would have kept Size ever since, unless some
	// expired, which takes MaxAge from their storing, after Follow began.
	maxAge := h.opts.MaxAge
	return !f.streamLimits && got.total < uint64(h.opts.Size) &&
		(maxAge <= 0 || time.Since(f.began) < maxAge)
}
