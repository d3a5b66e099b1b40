package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
)

// Headers and statuses of the answers to a batched direct get.
const (
	headerStatus     = "Status"           // of a message that carries no stored message
	headerNumPending = "Nats-Num-Pending" // the subject's messages after this one, to the stream's end
	statusEOB        = "204"              // the end of a batch
	statusNotFound   = "404"              // no message at or after the sequence asked for
)

// Bounds of one batched direct get: a batch cut short by them is read on
// with another.
const (
	directMaxBatch = 1024    // messages
	directMaxBytes = 4 << 20 // bytes, as the server counts them
)

// errNoBatch: the server answered a batched direct get as a single one
// (a server older than 2.11): Read falls back to a consumer.
var errNoBatch = errors.New("natsjs: the server does not answer batched direct gets")

// directRequest is a batched direct get: up to Batch messages of NextFor,
// from sequence Seq on.
type directRequest struct {
	Seq      uint64 `json:"seq"`
	NextFor  string `json:"next_by_subj"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// fetched is what one batched direct get brought back.
type fetched struct {
	// recs are the records of the room from the request's start to its
	// stop, oldest first (messages that are not records are skipped).
	recs []sockets.Record
	// msgs counts the room's messages received before stop, records or
	// not.
	msgs int
	// total is the number of the room's messages from the request's start
	// to the stream's end when the server answered (0: none), first the
	// sequence of the first of them.
	total, first uint64
	// reached is true when every message of the room from the start up
	// to stop was received; otherwise those from next on were not.
	reached bool
	next    uint64
}

// fetch asks the server for up to batch messages of subject from sequence
// start on, in one batched direct get, and keeps those before stop.
func (h *History) fetch(ctx context.Context, room, subject string, start, stop uint64, batch int) (fetched, error) {
	var f fetched
	batch = min(batch, directMaxBatch)
	req, err := json.Marshal(directRequest{Seq: start, NextFor: subject, Batch: batch, MaxBytes: directMaxBytes})
	if err != nil {
		return f, err
	}
	// The server answers with batch messages at most and a status: room
	// for all of them, so that none is ever dropped.
	replies := make(chan *nats.Msg, batch+1)
	sub, err := h.nc.ChanSubscribe(h.nc.NewInbox(), replies)
	if err != nil {
		return f, err
	}
	defer sub.Unsubscribe()
	if err := h.nc.PublishRequest(h.directSubject, sub.Subject, req); err != nil {
		return f, err
	}
	for {
		var msg *nats.Msg
		select {
		case msg = <-replies:
		case <-ctx.Done():
			return f, ctx.Err()
		}
		seqText := msg.Header.Get(jetstream.SequenceHeader)
		if seqText == "" {
			switch status := msg.Header.Get(headerStatus); status {
			case statusNotFound:
				f.reached = true
				return f, nil
			case statusEOB:
				pending, err1 := strconv.ParseUint(msg.Header.Get(headerNumPending), 10, 64)
				lastSent, err2 := strconv.ParseUint(msg.Header.Get(jetstream.LastSequenceHeader), 10, 64)
				if err := errors.Join(err1, err2); err != nil {
					return f, fmt.Errorf("end of a batch: %w", err)
				}
				f.reached = pending == 0 || lastSent+1 >= stop
				f.next = lastSent + 1
				return f, nil
			default:
				return f, fmt.Errorf("direct get: status %q %s", status, msg.Header.Get("Description"))
			}
		}
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			return f, fmt.Errorf("direct get: %s %q: %w", jetstream.SequenceHeader, seqText, err)
		}
		after, err := strconv.ParseUint(msg.Header.Get(headerNumPending), 10, 64)
		if err != nil {
			return f, errNoBatch
		}
		if f.msgs == 0 {
			f.total, f.first = after+1, seq
		}
		if seq >= stop {
			f.reached = true
			return f, nil
		}
		f.msgs++
		at, err := time.Parse(time.RFC3339Nano, msg.Header.Get(jetstream.TimeStampHeaer))
		if err != nil {
			return f, fmt.Errorf("direct get: message %d: %w", seq, err)
		}
		// As a consumer's metadata has it.
		at = time.Unix(0, at.UnixNano())
		if rec, ok := h.record(room, seq, msg.Header, msg.Data, at); ok {
			f.recs = append(f.recs, rec)
		}
	}
}

// readLast returns the newest limit records of room (fewer if it keeps
// fewer) from sequence lo to last, oldest first, reading about as many of
// the room's messages as it returns: it guesses where the room's
// limit-th message before last is and reads from there to last with one
// batched direct get. When the guess was wrong (the room's messages are
// not spread evenly over the stream), it asks for single messages, each
// of which tells how many of the room's messages follow it, to find where
// to read from. kept is the room's number of messages when Read began,
// streamFirst the stream's first sequence.
func (h *History) readLast(ctx context.Context, room, subject string, lo, streamFirst, last, kept uint64, limit int) ([]sockets.Record, error) {
	if kept == 0 {
		// The room kept nothing when Read began: whatever it has now was
		// stored after.
		return nil, nil
	}
	// About how many messages the room has from lo on, to the stream's
	// end: its share of the stream's sequences from there.
	atLo := kept
	if lo > streamFirst && lo <= last {
		atLo = max(1, ceilDiv(kept*(last+1-lo), last+1-streamFirst))
	}
	lo = max(lo, streamFirst, 1)
	// tail holds every record of the room from cur to last; the room has
	// about atCur messages from cur on, to the stream's end.
	cur, atCur := last+1, uint64(0)
	var tail []sockets.Record
	// What is wanted starts at lowest or after: the room has about
	// atLowest messages from there on.
	lowest, atLowest := lo, atLo
	// After a read that brought too few: how far back it started, and how
	// many messages it brought.
	var width, got uint64
	sure := true // the next guess reads at once, rather than ask first
	for len(tail) < limit && cur > lo {
		want := uint64(limit - len(tail))
		// Aim a little over, and take up to half as much again: a guess a
		// little off still reads all it needs at once.
		aim := want + want/4 + 1
		window := aim + aim/2
		if lowest >= cur {
			lowest, atLowest = lo, max(atLo, atCur)
		}
		// The start is in [early, late): from early the room has more than
		// window messages before cur (or early is lowest), from late fewer
		// than want (or late is cur).
		early, atEarly := lowest, atLowest
		late, atLate := cur, atCur
		halve := false
		var s uint64
		var f fetched
		for {
			s = early
			few := satSub(atEarly, atCur) <= window || late-early <= 1
			if !few {
				switch {
				case late == cur && got > 0:
					// As dense as the last read found it.
					s = late - min(ceilDiv(aim*width, got), late-early)
				case halve || atEarly <= atLate:
					s = early + (late-early)/2
				default:
					// As if the room's messages were spread evenly between.
					need := satSub(atCur+aim, atLate)
					s = late - min(ceilDiv(need*(late-early), atEarly-atLate), late-early)
				}
				s = min(max(s, early+1), late-1)
			}
			ask := uint64(1)
			if few || sure {
				ask = window
			}
			sure = false
			var err error
			if f, err = h.fetch(ctx, room, subject, s, cur, int(ask)); err != nil {
				return nil, err
			}
			n := satSub(f.total, atCur) // about the room's messages from s to cur
			tooEarly := n > window && f.msgs >= int(ask) && f.next < late
			tooLate := !few && n < want
			if f.reached || !tooEarly && !tooLate {
				break // read from s
			}
			before := late - early
			if tooEarly {
				// Guess again, after what was read.
				early, atEarly = f.next, satSub(f.total, uint64(f.msgs))
			} else {
				late, atLate = s, f.total
			}
			// A guess that did not halve what is left to search is
			// followed by one that does.
			halve = 2*(late-early) > before
			got = 0
		}
		// Read on to cur, if the batch did not get there.
		for !f.reached {
			rest := satSub(f.total, uint64(f.msgs)+atCur)
			g, err := h.fetch(ctx, room, subject, f.next, cur, int(max(rest, window)))
			if err != nil {
				return nil, err
			}
			f.recs = append(f.recs, g.recs...)
			f.msgs += g.msgs
			f.reached, f.next = g.reached, g.next
		}
		// Every record of the room from s to last is read.
		tail = append(f.recs, tail...)
		width, got = cur-s, uint64(f.msgs)
		atCur, cur = f.total, s
		lowest, atLowest = early, atEarly
		// Too few: the next guess reads at once if this one was not far
		// off.
		sure = 2*got >= aim
	}
	if len(tail) > limit {
		tail = tail[len(tail)-limit:]
	}
	return tail, nil
}

// stillKept reports whether the stream still keeps the message at seq.
func (h *History) stillKept(ctx context.Context, seq uint64) (bool, error) {
	_, err := h.stream.GetMsg(ctx, seq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("message %d: %w", seq, err)
	}
	return true, nil
}

func satSub(x, y uint64) uint64 {
	if x < y {
		return 0
	}
	return x - y
}

func ceilDiv(x, y uint64) uint64 { return (x + y - 1) / y }
