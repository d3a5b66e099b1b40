package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/examples/logstream/logline"
	"github.com/macaron-contrib/sockets/examples/logstream/tail"
)

// Frame is a line as sent to clients. The other frames are controlFrames:
// an error, or the acknowledgement of a filter change.
type Frame struct {
	File   string `json:"file,omitempty"`
	Offset int64  `json:"offset"`
	Line   string `json:"line"`
	Level  string `json:"level"`
	Time   string `json:"time,omitempty"`
	// Rotated marks the first line after the file was rotated, truncated
	// or re-created: offsets started again from 0.
	Rotated bool `json:"rotated,omitempty"`
}

// controlFrame is a frame that is not a line.
type controlFrame struct {
	Error  string       `json:"error,omitempty"`
	Filter *filterState `json:"filter,omitempty"`
}

// filterState is a client's filter, as it sends it and as it is
// acknowledged.
type filterState struct {
	Level  string `json:"level"`
	Search string `json:"search"`
}

// errGap is the error frame's text when lines between what a client had
// and what it gets next are no longer kept.
const errGap = "gap"

// encodeFrame encodes v as a JSON text frame, leaving "<", ">" and "&" as
// they are: a log line arrives verbatim. Invalid UTF-8 becomes U+FFFD.
func encodeFrame(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only strings, numbers and booleans
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// entry is one line as a stream keeps it: parsed and encoded once.
type entry struct {
	seq    uint64 // position in the stream, increasing across rotations
	gen    uint64 // generation of the file: increases at each rotation
	offset int64
	text   string
	info   logline.Info
	frame  string
}

// ring keeps the last len(buf) entries of a stream.
type ring struct {
	buf  []*entry
	next uint64 // seq of the next entry
}

func newRing(size int) ring { return ring{buf: make([]*entry, size)} }

// start is the seq of the oldest entry kept.
func (r *ring) start() uint64 {
	if n := uint64(len(r.buf)); r.next > n {
		return r.next - n
	}
	return 0
}

func (r *ring) at(seq uint64) *entry { return r.buf[seq%uint64(len(r.buf))] }

func (r *ring) push(e *entry) {
	e.seq = r.next
	r.buf[r.next%uint64(len(r.buf))] = e
	r.next++
}

// filterKey identifies a filter: clients with the same one share a group.
type filterKey struct{ level, search string }

// group is the hub room of the live clients of a stream that share a
// filter. The follower matches each line once per group and publishes it
// once to the group's room.
type group struct {
	key     filterKey
	filter  *logline.Filter
	room    string
	members int
}

// stream is one followed file: a single tail follower, the ring of its
// recent lines, and the groups of its live clients.
type stream struct {
	name string // the path as given on the command line
	id   int
	hub  *sockets.Hub
	log  *slog.Logger

	mu        sync.Mutex
	ring      ring
	gen       uint64
	groups    map[filterKey]*group
	nextGroup int
	published atomic.Uint64 // hub publishes of lines, for the tests
	refills   atomic.Uint64 // filter changes carried out, for the tests
}

func newStream(id int, name string, ringSize int, hub *sockets.Hub, log *slog.Logger) *stream {
	return &stream{
		name:   name,
		id:     id,
		hub:    hub,
		log:    log.With("file", name),
		ring:   newRing(ringSize),
		groups: make(map[filterKey]*group),
	}
}

// follow reads lines until the channel closes.
func (s *stream) follow(lines <-chan tail.Line) {
	for l := range lines {
		s.add(l)
	}
}

// add keeps a line and publishes it to every group whose filter it passes,
// under the lock, so that a client is either served from the ring or from
// its group, never both and never neither.
func (s *stream) add(l tail.Line) {
	info := logline.Parse(l.Text)
	f := Frame{File: s.name, Offset: l.Offset, Line: l.Text, Level: info.Level, Rotated: l.Rotated}
	if !info.Time.IsZero() {
		f.Time = info.Time.Format(time.RFC3339Nano)
	}
	e := &entry{offset: l.Offset, text: l.Text, info: info, frame: encodeFrame(f)}
	if l.Rotated {
		s.log.Info("file rotated", "first_offset", l.Offset)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Rotated {
		s.gen++
	}
	e.gen = s.gen
	s.ring.push(e)
	var data []byte
	for _, g := range s.groups {
		if g.filter.Match(e.text, e.info) {
			if data == nil {
				data = []byte(e.frame)
			}
			s.hub.Publish(g.room, websocket.TextMessage, data)
			s.published.Add(1)
		}
	}
}

// subscription is one client of a stream. Its fields other than group
// belong to the client's handler goroutine; group is guarded by the
// stream's lock.
type subscription struct {
	conn    *sockets.Conn
	private string // the client's own room: filter changes while live
	filter  *logline.Filter
	key     filterKey
	group   *group // nil until live
}

// backfill returns the frames of the last n lines that pass f, oldest
// first, and the position just after them.
func (s *stream) backfill(f *logline.Filter, n int) ([]string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backfillLocked(f, n), s.ring.next
}

func (s *stream) backfillLocked(f *logline.Filter, n int) []string {
	var frames []string
	start := s.ring.start()
	for seq := s.ring.next; seq > start && len(frames) < n; seq-- {
		if e := s.ring.at(seq - 1); f.Match(e.text, e.info) {
			frames = append(frames, e.frame)
		}
	}
	for i, j := 0, len(frames)-1; i < j; i, j = i+1, j-1 {
		frames[i], frames[j] = frames[j], frames[i]
	}
	return frames
}

// resume returns the position of the first line after offset since in the
// current generation of the file, and whether lines may be missing there:
//
//   - since is a line of the current generation still in the ring (or
//     between two of them): the next line, no gap;
//   - since is before the oldest line of the generation kept: that oldest
//     line, with a gap (lines were dropped from the ring, or read before
//     the server started);
//   - since is after the last line read: the file was rotated or truncated
//     since the client read that offset; the current generation from its
//     first line kept, with a gap unless that line is at offset 0 (the
//     lines the old file got after since are not sent again).
func (s *stream) resume(since int64) (cursor uint64, gap bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start, end := s.ring.start(), s.ring.next
	if start == end {
		return end, false
	}
	last := s.ring.at(end - 1)
	first := end - 1
	for first > start && s.ring.at(first-1).gen == last.gen {
		first--
	}
	firstEntry := s.ring.at(first)
	switch {
	case since > last.offset:
		return first, firstEntry.offset != 0
	case since < firstEntry.offset:
		return first, true
	}
	// Offsets increase within a generation: find the first one > since,
	// knowing that at(lo) is not one and that hi is (end counts as one).
	lo, hi := first, end
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if s.ring.at(mid).offset > since {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, false
}

// catchUpBatch bounds the lines looked at per catchUp call.
const catchUpBatch = 256

// catchUp returns the frames of the lines from cursor on that pass the
// subscription's filter (looking at catchUpBatch lines at most), the
// position after them, and whether lines before cursor had to be skipped
// because the ring no longer has them. When nothing is left to catch up
// with, it makes the subscription live instead: from then on, the
// subscription's group room gets every new line. Call it only once the
// frames of the previous call have been taken by the connection's writer
// (an unbuffered sender), so that they are written before any frame of the
// group.
func (s *stream) catchUp(sub *subscription, cursor uint64) (frames []string, next uint64, gap, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if start := s.ring.start(); cursor < start {
		cursor, gap = start, true
	}
	end := min(s.ring.next, cursor+catchUpBatch)
	for ; cursor < end; cursor++ {
		if e := s.ring.at(cursor); sub.filter.Match(e.text, e.info) {
			frames = append(frames, e.frame)
		}
	}
	// After a gap, the gap frame goes first: stay out of the group.
	if len(frames) == 0 && cursor == s.ring.next && !gap {
		s.joinLocked(sub)
		return nil, cursor, gap, true
	}
	return frames, cursor, gap, false
}

// refilter changes a live subscription's filter. The client's connection
// gets, through the hub and in this order, whatever its old group
// published before, the acknowledgement of the new filter, the last n
// lines that pass it, then what its new group publishes: one queue, so no
// line is lost, repeated or reordered around the change.
func (s *stream) refilter(sub *subscription, f *logline.Filter, key filterKey, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(sub)
	sub.filter, sub.key = f, key
	s.hub.Join(sub.private, sub.conn)
	ack := encodeFrame(controlFrame{Filter: &filterState{Level: key.level, Search: key.search}})
	s.hub.Publish(sub.private, websocket.TextMessage, []byte(ack))
	for _, frame := range s.backfillLocked(f, n) {
		s.hub.Publish(sub.private, websocket.TextMessage, []byte(frame))
	}
	s.joinLocked(sub)
}

// unsubscribe ends a subscription.
func (s *stream) unsubscribe(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(sub)
}

// joinLocked puts sub in the group of its filter, making the group if
// needed.
func (s *stream) joinLocked(sub *subscription) {
	g := s.groups[sub.key]
	if g == nil {
		s.nextGroup++
		g = &group{key: sub.key, filter: sub.filter, room: fmt.Sprintf("stream/%d/%d", s.id, s.nextGroup)}
		s.groups[sub.key] = g
	}
	g.members++
	sub.group = g
	s.hub.Join(g.room, sub.conn)
}

// leaveLocked takes sub out of its group, if it is in one, and forgets the
// group when it is left empty.
func (s *stream) leaveLocked(sub *subscription) {
	g := sub.group
	if g == nil {
		return
	}
	sub.group = nil
	s.hub.Leave(g.room, sub.conn)
	if g.members--; g.members == 0 {
		delete(s.groups, g.key)
	}
}

// live returns the number of live subscriptions and of groups.
func (s *stream) live() (subs, groups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		subs += g.members
	}
	return subs, len(s.groups)
}

// start follows the file in a goroutine until ctx is done; wg tracks it.
func (s *stream) start(ctx context.Context, cfg tail.Config, wg *sync.WaitGroup) error {
	lines, err := tail.Follow(ctx, cfg)
	if err != nil {
		return err
	}
	wg.Go(func() { s.follow(lines) })
	return nil
}
