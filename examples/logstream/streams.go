package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	File string `json:"file,omitempty"`
	// Gen names the generation of the file the line is from: it changes
	// when the file is rotated, truncated or re-created, and when the
	// server restarts. A client resumes with since=Gen:Offset.
	Gen    string `json:"gen,omitempty"`
	Offset int64  `json:"offset"`
	Line   string `json:"line"`
	Level  string `json:"level"`
	Time   string `json:"time,omitempty"`
	// At is the time a view of several files orders the line by, in
	// microseconds since 1970 UTC: see orderTime.
	At int64 `json:"at"`
	// Rotated marks the first line after the file was rotated, truncated
	// or re-created: offsets started again from 0.
	Rotated bool `json:"rotated,omitempty"`
	// Msg is the message of a structured line (a JSON object or logfmt,
	// see logline.Info), when it has one.
	Msg string `json:"msg,omitempty"`
	// Fields, present exactly when the line is structured, are its other
	// fields (see frameFields).
	Fields *frameFields `json:"fields,omitempty"`
}

// controlFrame is a frame that is not a line.
type controlFrame struct {
	Error  string       `json:"error,omitempty"`
	Filter *filterState `json:"filter,omitempty"`
	// Skipped is, with errBehind, the number of lines skipped.
	Skipped uint64 `json:"skipped,omitempty"`
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

// errBehind is the error frame's text when a group could not match the
// lines as fast as they came: the ring dropped Skipped of them before the
// group got to them, and they were not sent to its members.
const errBehind = "behind"

// encodeFrame encodes v as a JSON text frame, leaving "<", ">" and "&" as
// they are: a log line arrives verbatim. Invalid UTF-8 becomes U+FFFD. The
// frame is never modified afterwards: it is shared (entry.frame).
func encodeFrame(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only strings, numbers and booleans
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// entry is one line as a stream keeps it: parsed and encoded once.
type entry struct {
	seq    uint64 // position in the stream, increasing across rotations
	gen    uint64 // generation of the file: increases at each rotation, from 0
	offset int64
	prev   int64 // offset of the line before in the generation; -1: not read
	text   string
	info   logline.Info
	at     int64 // the frame's At
	// frame is the line's frame as JSON, never modified: backfills,
	// catch-ups and downloads hold it, not copies of it.
	frame []byte
	// shared is frame as a sockets.Frame (sharedFrame), made by the first
	// group that publishes the line: every group's room and every
	// member's queue get this one Frame, whose payload is frame itself.
	shared atomic.Pointer[sockets.Frame]
}

// size is what an entry counts for in its ring's byte budget: its line,
// its frame and its fields, what grows with the line (the frame shared
// with the sockets is the same bytes).
func (e *entry) size() int { return len(e.text) + len(e.frame) + e.info.Size() }

// sharedFrame returns the line's frame as a sockets.Frame, making it on
// first use. Two groups that make it at once keep the same one.
func (e *entry) sharedFrame() (*sockets.Frame, error) {
	if f := e.shared.Load(); f != nil {
		return f, nil
	}
	f, err := sockets.NewFrame(sockets.TextMessage, e.frame)
	if err != nil {
		return nil, fmt.Errorf("logstream: preparing the frame of line %d: %w", e.seq, err)
	}
	if e.shared.CompareAndSwap(nil, f) {
		return f, nil
	}
	return e.shared.Load(), nil
}

// ring keeps the last entries of a stream: at most len(buf) of them, and
// at most maxBytes of their sizes. It drops the oldest first, so what it
// keeps is always the entries from start() to next, contiguous.
type ring struct {
	buf      []*entry // entry seq at seq%len(buf); nil once dropped
	first    uint64   // seq of the oldest entry kept; next when none
	next     uint64   // seq of the next entry
	bytes    int      // sum of the sizes of the entries kept
	maxBytes int
}

func newRing(size, maxBytes int) ring {
	return ring{buf: make([]*entry, size), maxBytes: maxBytes}
}

// start is the seq of the oldest entry kept.
func (r *ring) start() uint64 { return r.first }

func (r *ring) at(seq uint64) *entry { return r.buf[seq%uint64(len(r.buf))] }

// search returns the first seq in [lo, hi) whose entry satisfies pred, or
// hi if none does; pred must be false then true along the range.
func (r *ring) search(lo, hi uint64, pred func(*entry) bool) uint64 {
	return lo + uint64(sort.Search(int(hi-lo), func(i int) bool { return pred(r.at(lo + uint64(i))) }))
}

// push appends e, dropping the oldest entries until both limits hold. An
// entry bigger than maxBytes on its own is not kept, and nothing older
// than it can be: the ring is left empty, its seq taken.
func (r *ring) push(e *entry) {
	e.seq = r.next
	r.next++
	n := e.size()
	if n > r.maxBytes {
		for r.first < e.seq {
			r.dropOldest()
		}
		r.first = r.next
		return
	}
	for r.next-r.first > uint64(len(r.buf)) || r.bytes+n > r.maxBytes {
		r.dropOldest()
	}
	r.buf[e.seq%uint64(len(r.buf))] = e
	r.bytes += n
}

// dropOldest forgets the oldest entry kept, letting its memory go.
func (r *ring) dropOldest() {
	i := r.first % uint64(len(r.buf))
	r.bytes -= r.buf[i].size()
	r.buf[i] = nil
	r.first++
}

// filterKey identifies a filter: clients with the same one share a group.
type filterKey struct{ level, search string }

// group is the hub room of the live clients of a stream that share a
// filter, and the goroutine that matches each line once for them, outside
// the stream's lock, and publishes it once to the room. Its fields other
// than key, filter, room and wake are guarded by the stream's lock.
type group struct {
	key     filterKey
	filter  *logline.Filter
	room    string
	members int
	// next is the seq of the first line the group has not published yet
	// (nor skipped): a client joins the room when its catch-up reached
	// exactly next.
	next uint64
	// moved is closed, and replaced, whenever next moves.
	moved chan struct{}
	wake  chan struct{} // a line was added (buffered, 1)
	gone  bool          // the group was forgotten: its goroutine ends
}

// groupBatch bounds the lines a group takes from the ring at a time.
const groupBatch = 256

// serveGroup matches and publishes the lines of the ring from g.next on,
// until the group is forgotten. It holds the stream's lock only to take
// the next lines (pointers) and to publish the matching ones, never while
// it matches: a costly filter delays its own group only. When the ring
// dropped lines it had not got to, the room is told how many it skips.
func (s *stream) serveGroup(g *group) {
	var batch []*entry
	for {
		s.mu.Lock()
		if g.gone {
			s.mu.Unlock()
			return
		}
		from := g.next
		batch = batch[:0]
		if start := s.ring.start(); from < start {
			// The last line too big for the ring, if nothing after it was
			// dropped, is still sent.
			to, b := start, s.big
			big := b != nil && b.seq+1 == start && b.seq >= from
			if big {
				to = b.seq
			}
			if skipped := to - from; skipped > 0 {
				data := encodeFrame(controlFrame{Error: errBehind, Skipped: skipped})
				s.hub.Publish(g.room, websocket.TextMessage, data)
				s.log.Warn("a filter group fell behind: lines skipped", "search", g.key.search, "level", g.key.level, "skipped", skipped)
				g.moveLocked(to)
			}
			from = to
			if big {
				batch = append(batch, b)
			}
		}
		if len(batch) == 0 {
			batch = s.entriesLocked(batch, from, min(s.ring.next, from+groupBatch))
		}
		hook := s.beforeMatch
		s.mu.Unlock()
		if len(batch) == 0 {
			<-g.wake
			continue
		}
		if hook != nil {
			hook()
		}
		var frames []*sockets.Frame
		for _, e := range batch {
			if !g.filter.Match(e.text, e.info) {
				continue
			}
			f, err := e.sharedFrame()
			if err != nil { // not for a frame encodeFrame made
				s.log.Error("a line cannot be sent", "err", err)
				continue
			}
			frames = append(frames, f)
		}
		s.mu.Lock()
		if !g.gone {
			for _, f := range frames {
				s.published.Add(1)
				s.publishFrame(g.room, f)
			}
			g.moveLocked(from + uint64(len(batch)))
		}
		s.mu.Unlock()
		clear(batch)
	}
}

// moveLocked sets g.next, waking the clients waiting to join.
func (g *group) moveLocked(next uint64) {
	g.next = next
	close(g.moved)
	g.moved = make(chan struct{})
}

// entriesLocked appends the entries [from, to) of the ring to dst.
func (s *stream) entriesLocked(dst []*entry, from, to uint64) []*entry {
	for seq := from; seq < to; seq++ {
		dst = append(dst, s.ring.at(seq))
	}
	return dst
}

// stream is one followed file: a single tail follower, the ring of its
// recent lines, and the groups of its live clients.
type stream struct {
	name string // the path as given on the command line
	id   int
	hub  *sockets.Hub
	log  *slog.Logger
	// run names this stream in the generations it hands out, so that a
	// generation of another stream, or of an earlier run of the server,
	// is never taken for one of this stream's.
	run string
	// gen is the generation being read and last the offset of the last
	// line read in it (-1: none yet); both are the follower's own.
	gen  uint64
	last int64
	// order is the follower's: the lines' order times (see orderTime).
	order orderClock

	mu   sync.Mutex
	ring ring
	// big is the last line too big for the ring, kept for the groups.
	big       *entry
	groups    map[filterKey]*group
	nextGroup int
	published atomic.Uint64 // hub publishes of lines, for the tests
	// publishFrame publishes a line's frame to a group's room: the hub's
	// PublishFrame, or the tests' spy.
	publishFrame func(room string, f *sockets.Frame) error
	refills      atomic.Uint64 // filter changes carried out, for the tests
	// beforeMatch, if set, is called by a group before it matches lines it
	// took from the ring, for the tests.
	beforeMatch func()
	// filterMessages counts the filter messages handled, carried out or
	// refused, for the tests.
	filterMessages atomic.Uint64
}

func newStream(id int, name string, ringSize, ringBytes int, hub *sockets.Hub, log *slog.Logger) *stream {
	return &stream{
		name:         name,
		id:           id,
		hub:          hub,
		log:          log.With("file", name),
		run:          strconv.FormatUint(rand.Uint64(), 36),
		last:         -1,
		ring:         newRing(ringSize, ringBytes),
		groups:       make(map[filterKey]*group),
		publishFrame: hub.PublishFrame,
	}
}

// genName is the name of generation n of the stream, as frames carry it.
func (s *stream) genName(n uint64) string {
	return s.run + "-" + strconv.FormatUint(n, 10)
}

// genNumber is the generation that name names, if it is one of this
// stream's.
func (s *stream) genNumber(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, s.run+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// follow reads lines until the channel closes.
func (s *stream) follow(lines <-chan tail.Line) {
	for l := range lines {
		s.add(l)
	}
}

// add keeps a line in the ring and wakes the groups, which match and
// publish it: the follower never waits for a filter.
func (s *stream) add(l tail.Line) {
	if l.Rotated {
		s.gen, s.last = s.gen+1, -1
		s.order = orderClock{}
		s.log.Info("file rotated", "first_offset", l.Offset, "gen", s.genName(s.gen))
	}
	info := logline.Parse(l.Text)
	at := s.order.next(info.Time, time.Now())
	f := Frame{File: s.name, Gen: s.genName(s.gen), Offset: l.Offset, Line: l.Text, Level: info.Level, At: at, Rotated: l.Rotated}
	if !info.Time.IsZero() {
		f.Time = info.Time.Format(time.RFC3339Nano)
	}
	if info.Structured() {
		f.Msg, f.Fields = info.Msg, (*frameFields)(&info.Fields)
	}
	e := &entry{gen: s.gen, offset: l.Offset, prev: s.last, text: l.Text, info: info, at: at, frame: encodeFrame(f)}
	s.last = l.Offset

	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring.push(e)
	if e.seq < s.ring.start() {
		// Too big for the ring: kept aside until the groups are past it.
		s.big = e
	}
	for _, g := range s.groups {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// subscription is one client of a stream. Its fields other than group
// belong to the client's handler goroutine; group is guarded by the
// stream's lock.
type subscription struct {
	conn   *sockets.Conn
	filter *logline.Filter
	key    filterKey
	group  *group // nil until live
}

// backfillBudget bounds the time one backfill or refill spends matching:
// past it, the lines found so far (the most recent ones) are sent.
const backfillBudget = 100 * time.Millisecond

// backfill returns the frames of the last n lines that pass f and, when
// since is not zero, whose time is since or later (see inTime), oldest
// first, and the position just after them. It matches outside the lock,
// for backfillBudget at most.
func (s *stream) backfill(f *logline.Filter, n int, since time.Time) ([][]byte, uint64) {
	entries, next, _ := s.lastMatching(f, n, since)
	frames := make([][]byte, len(entries))
	for i, e := range entries {
		frames[i] = e.frame
	}
	return frames, next
}

// lastMatching returns the ring's last n entries that pass f and, when
// since is not zero, whose time is since or later (see inTime), oldest
// first, and the position just after the ring's last line. It matches
// outside the lock, for backfillBudget at most: complete is false when it
// stopped there, with the most recent entries found by then.
func (s *stream) lastMatching(f *logline.Filter, n int, since time.Time) (found []*entry, next uint64, complete bool) {
	s.mu.Lock()
	next = s.ring.next
	var entries []*entry
	if n > 0 {
		entries = s.entriesLocked(nil, s.ring.start(), next)
	}
	s.mu.Unlock()
	if !since.IsZero() {
		entries = inTime(entries, since)
	}
	deadline := time.Now().Add(backfillBudget)
	complete = true
	for i := len(entries) - 1; i >= 0 && len(found) < n; i-- {
		if e := entries[i]; f.Match(e.text, e.info) {
			found = append(found, e)
		}
		if i%64 == 0 && i > 0 && time.Now().After(deadline) {
			complete = false
			break
		}
	}
	slices.Reverse(found)
	return found, next, complete
}

// inTime returns the entries, in ring order, whose time is since or later:
// a cheap pass, no filter. An entry without a time goes with the entry
// before it (none before it: it is left out). It reuses entries' array.
func inTime(entries []*entry, since time.Time) []*entry {
	in := false
	kept := entries[:0]
	for _, e := range entries {
		if !e.info.Time.IsZero() {
			in = !e.info.Time.Before(since)
		}
		if in {
			kept = append(kept, e)
		}
	}
	return kept
}

// resume returns where a client resumes that last had the line at pos,
// and whether it must first be told that lines may be missing (a gap):
//
//   - pos is in a generation of this stream that the ring still has: the
//     line after it, in that generation or the next ones, no gap; or, if
//     the ring no longer reaches back to pos (the line after it is gone),
//     the oldest line of that generation kept, with a gap;
//   - pos is in a generation of this stream older than any in the ring:
//     the oldest line kept, with a gap;
//   - the generation is unknown (no generation, or one of another server
//     run, or of another file): nothing proves the client read the file
//     the server reads now, so always a gap; then, to send no line twice
//     if it is the same file, the line after pos.offset in the current
//     generation, or its oldest line kept when pos.offset is not among its
//     lines (beyond its end, the file was rotated since the client read
//     it).
func (s *stream) resume(pos position) (cursor uint64, gap bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start, end := s.ring.start(), s.ring.next
	if start == end {
		return end, true // no line read yet: pos cannot be one of ours
	}
	cur := s.ring.at(end - 1).gen
	if n, ok := s.genNumber(pos.gen); ok && n <= cur {
		if n < s.ring.at(start).gen {
			return start, true
		}
		return s.resumeInLocked(n, pos.offset, start, end)
	}
	// An unknown generation: taken as the current one, with a gap anyway.
	if pos.offset > s.ring.at(end-1).offset {
		return s.ring.search(start, end, func(e *entry) bool { return e.gen >= cur }), true
	}
	cursor, _ = s.resumeInLocked(cur, pos.offset, start, end)
	return cursor, true
}

// resumeInLocked returns the position after the line at offset of
// generation n, which the ring [start, end) has, and whether lines are
// missing before it: offset is before the line that precedes the
// generation's oldest line kept (or that line was never read).
func (s *stream) resumeInLocked(n uint64, offset int64, start, end uint64) (uint64, bool) {
	// Generations increase along the ring, and offsets within one.
	a := s.ring.search(start, end, func(e *entry) bool { return e.gen >= n })
	b := s.ring.search(a, end, func(e *entry) bool { return e.gen > n })
	if a == b {
		return a, true
	}
	if first := s.ring.at(a); offset < first.offset {
		return a, first.prev < 0 || offset < first.prev
	}
	return s.ring.search(a, b, func(e *entry) bool { return e.offset > offset }), false
}

// catchUpBatch bounds the lines looked at per catchUp call.
const catchUpBatch = 256

// catchUp returns the frames of the lines from cursor on that pass the
// subscription's filter (looking at catchUpBatch lines at most, matched
// outside the lock), the position after them, and whether lines before
// cursor had to be skipped because the ring no longer has them.
//
// When cursor is where the group of the subscription's filter is (the
// first line it has not published), or at the end of the ring when there
// is no such group yet, it makes the subscription live instead: from then
// on, the group's room gets every line after those caught up with. When
// the group is behind cursor, it returns a channel to wait on before
// calling again. Call it only once the frames of the previous call are in
// the connection's queue or have been taken by its writer (an unbuffered
// sender), so that they are written before any frame of the group.
func (s *stream) catchUp(sub *subscription, cursor uint64) (frames [][]byte, next uint64, gap, live bool, wait <-chan struct{}) {
	s.mu.Lock()
	if start := s.ring.start(); cursor < start {
		cursor, gap = start, true
	}
	end := s.ring.next
	// After a gap, the gap frame goes first: stay out of the group.
	if !gap {
		g := s.groups[sub.key]
		switch {
		case g == nil && cursor == end, g != nil && cursor == g.next:
			s.joinLocked(sub, cursor)
			s.mu.Unlock()
			return nil, cursor, false, true, nil
		case g != nil && cursor > g.next:
			wait = g.moved
			s.mu.Unlock()
			return nil, cursor, false, false, wait
		case g != nil:
			end = g.next
		}
	}
	end = min(end, cursor+catchUpBatch)
	entries := s.entriesLocked(nil, cursor, end)
	s.mu.Unlock()
	for _, e := range entries {
		if sub.filter.Match(e.text, e.info) {
			frames = append(frames, e.frame)
		}
	}
	return frames, end, gap, false, nil
}

// refilter changes a live subscription's filter: it leaves its group and
// gets the acknowledgement of the new filter and the last n lines that
// pass it, at most maxRefillBytes of them (sent to it alone, see send),
// and the position after them, from which it catches up (with send) until
// it joins its new group. The client's connection gets, in this order,
// whatever its old group published before, the acknowledgement and the
// refill, the lines caught up with, then what its new group publishes: the
// hub's frames and Send's share the connection's queue, so no line is
// lost, repeated or reordered around the change. It reports false if the
// connection is closing.
func (s *stream) refilter(sub *subscription, f *logline.Filter, key filterKey, n int) (uint64, bool) {
	s.mu.Lock()
	s.leaveLocked(sub)
	s.mu.Unlock()
	sub.filter, sub.key = f, key
	ack := encodeFrame(controlFrame{Filter: &filterState{Level: key.level, Search: key.search}})
	frames, next := s.backfill(f, n, time.Time{})
	frames = lastWithin(frames, maxRefillBytes)
	return next, send(sub.conn, append([][]byte{ack}, frames...))
}

// lastWithin returns the last of frames that fit in max bytes together.
func lastWithin(frames [][]byte, max int) [][]byte {
	sum := 0
	for i := len(frames) - 1; i >= 0; i-- {
		if sum += len(frames[i]); sum > max {
			return frames[i+1:]
		}
	}
	return frames
}

// send queues frames to c, in order, after whatever its hub queue has,
// each as a sockets.Frame of the bytes it is given, not a copy. A
// connection whose queue is full is closed, as the hub does with a member
// whose queue is full. It reports false if c is closing.
func send(c *sockets.Conn, frames [][]byte) bool {
	for _, frame := range frames {
		f, err := sockets.NewFrame(sockets.TextMessage, frame)
		if err == nil {
			err = c.SendFrame(f)
		}
		if err != nil {
			if errors.Is(err, sockets.ErrQueueFull) {
				c.Close(websocket.ClosePolicyViolation, "slow client")
			}
			return false
		}
	}
	return true
}

// unsubscribe ends a subscription.
func (s *stream) unsubscribe(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(sub)
}

// joinLocked puts sub in the group of its filter, making the group if
// needed, starting at next (the group's position, when it has one).
func (s *stream) joinLocked(sub *subscription, next uint64) {
	g := s.groups[sub.key]
	if g == nil {
		s.nextGroup++
		g = &group{
			key:    sub.key,
			filter: sub.filter,
			room:   fmt.Sprintf("stream/%d/%d", s.id, s.nextGroup),
			next:   next,
			moved:  make(chan struct{}),
			wake:   make(chan struct{}, 1),
		}
		s.groups[sub.key] = g
		go s.serveGroup(g)
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
		g.gone = true
		select {
		case g.wake <- struct{}{}:
		default:
		}
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
