package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/bench/internal/load"
)

// member is one member of the room: its connection and what its reader
// saw. Fields without a comment belong to the reader goroutine.
type member struct {
	index int
	name  string
	conn  *websocket.Conn

	names   map[string]bool // the members it knows of (members frame, statuses)
	known   atomic.Int32    // len(names), for the coordinator
	joined  atomic.Bool     // it got its members frame
	gone    atomic.Bool     // its connection ended before the run's end
	seen    []uint64        // bit per sequence number
	dup     atomic.Int64
	echo    atomic.Int64 // its own messages sent back to it
	invalid atomic.Int64 // frames that could not be read
	errs    atomic.Int64 // error frames
	left    atomic.Int64 // "left" statuses after everyone had joined

	mu  sync.Mutex
	lat [][]int32 // per step: latency of each delivery, µs; under mu
	// errText is the first error frame's text; under mu.
	errText string
}

// room is one run's members and the counts per message.
type room struct {
	members []*member
	base    time.Time
	steps   []*step
	stepOf  []uint8        // step index of each sequence number
	counts  []atomic.Int32 // per message: members that have it
	settled atomic.Bool    // everyone has joined: "left" statuses count
	closing atomic.Bool
	wg      sync.WaitGroup
}

// step is one paced phase of the run: messages lo..hi-1 at rate per
// second.
type step struct {
	rate       float64
	lo, hi     int
	completed  atomic.Int64 // messages every other member has
	deliveries atomic.Int64
	lastDone   atomic.Int64 // ns since base of the last completion
}

func (r *room) now() time.Duration { return time.Since(r.base) }

// join connects the members, concurrency at a time, member i to
// urls[i%len(urls)], and starts their readers.
func (r *room) join(ctx context.Context, urls []string, roomName string, perAddr, concurrency int) error {
	dialers := map[string]*websocket.Dialer{}
	for i := range r.members {
		ip := load.SourceIP(i, perAddr)
		if dialers[ip.String()] == nil {
			nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
			dialers[ip.String()] = &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second,
				ReadBufferSize: 4096, WriteBufferSize: 1024}
		}
	}
	var next atomic.Int64
	errc := make(chan error, concurrency)
	for range concurrency {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.members) {
					errc <- nil
					return
				}
				m := r.members[i]
				u := urls[i%len(urls)] + "/sockets/rooms/" + roomName + "/" + m.name
				c, resp, err := dialers[load.SourceIP(i, perAddr).String()].DialContext(ctx, u, nil)
				if err != nil {
					if resp != nil {
						b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
						err = fmt.Errorf("%w (HTTP %s: %s)", err, resp.Status, bytes.TrimSpace(b))
					}
					errc <- fmt.Errorf("member %s from %s: %w", m.name, load.SourceIP(i, perAddr), err)
					return
				}
				m.conn = c
				r.wg.Add(1)
				go r.read(m)
			}
		}()
	}
	var first error
	for range concurrency {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close closes every connection and waits for the readers.
func (r *room) close() {
	r.closing.Store(true)
	for _, m := range r.members {
		if m.conn != nil {
			m.conn.Close()
		}
	}
	r.wg.Wait()
}

// read is member m's reader: it counts what the chat sends m.
func (r *room) read(m *member) {
	defer r.wg.Done()
	var buf []byte
	for {
		_, rd, err := m.conn.NextReader()
		if err != nil {
			if !r.closing.Load() {
				m.gone.Store(true)
			}
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := rd.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				if !r.closing.Load() {
					m.gone.Store(true)
				}
				return
			}
		}
		at := r.now()
		r.frame(m, buf, at)
	}
}

// frame handles one frame for m. The chat's frames are JSON objects,
// {"pos":"...","typ":"message","from":"NAME","text":"..."}; the fields
// read here are found by scanning, unless a string holds an escape.
func (r *room) frame(m *member, b []byte, at time.Duration) {
	typ, ok1 := field(b, "typ")
	text, ok2 := field(b, "text")
	if !ok1 || !ok2 {
		var f struct{ Typ, From, Text string }
		if err := json.Unmarshal(b, &f); err != nil {
			m.invalid.Add(1)
			return
		}
		typ, text = []byte(f.Typ), []byte(f.Text)
	}
	switch string(typ) {
	case "message":
		r.message(m, text, at)
	case "history":
	case "members":
		var names []string
		if err := json.Unmarshal(text, &names); err != nil {
			// The list is a JSON string holding a JSON array: its quotes
			// are escaped, so field gave up and text came from Unmarshal.
			m.invalid.Add(1)
			return
		}
		m.names = map[string]bool{}
		for _, n := range names {
			m.names[n] = true
		}
		m.known.Store(int32(len(m.names)))
		m.joined.Store(true)
	case "status":
		from, _ := field(b, "from")
		switch string(text) {
		case "joined":
			if m.names != nil {
				m.names[string(from)] = true
			}
		case "left":
			if m.names != nil {
				delete(m.names, string(from))
			}
			if r.settled.Load() {
				m.left.Add(1)
			}
		}
		m.known.Store(int32(len(m.names)))
	case "error":
		m.errs.Add(1)
		m.mu.Lock()
		if m.errText == "" {
			m.errText = string(text)
		}
		m.mu.Unlock()
	default:
		m.invalid.Add(1)
	}
}

// message counts one delivery of a benchmark message, whose text is
// SEQ:NANOS:xxx (NANOS: the send time since base).
func (r *room) message(m *member, text []byte, at time.Duration) {
	seq, rest, ok := load.ParseUint(text)
	ts, _, ok2 := load.ParseUint(rest)
	if !ok || !ok2 || seq >= uint64(len(r.counts)) {
		m.invalid.Add(1)
		return
	}
	if int(seq%uint64(len(r.members))) == m.index {
		m.echo.Add(1)
		return
	}
	if m.seen[seq>>6]&(1<<(seq&63)) != 0 {
		m.dup.Add(1)
		return
	}
	m.seen[seq>>6] |= 1 << (seq & 63)
	st := r.stepOf[seq]
	s := r.steps[st]
	m.mu.Lock()
	m.lat[st] = append(m.lat[st], int32(min((at-time.Duration(ts))/time.Microsecond, 1<<31-1)))
	m.mu.Unlock()
	s.deliveries.Add(1)
	if r.counts[seq].Add(1) == int32(len(r.members)-1) {
		s.lastDone.Store(int64(at))
		s.completed.Add(1)
	}
}

// field returns the string value of "key" in the JSON object b, found by
// scanning; ok is false when it is not there or holds an escape.
func field(b []byte, key string) ([]byte, bool) {
	var pat [32]byte
	p := append(append(append(pat[:0], '"'), key...), `":"`...)
	i := bytes.Index(b, p)
	if i < 0 {
		return nil, false
	}
	v := b[i+len(p):]
	for j, c := range v {
		switch c {
		case '\\':
			return nil, false
		case '"':
			return v[:j], true
		}
	}
	return nil, false
}

// send paces step s: message k goes at start + k/rate, from member
// seq % members (round-robin, so each member sends every members/rate
// seconds, under the chat's per-member rate limit). It returns how many
// it sent, the send phase's length, and how late the pacer fell behind
// its schedule at most.
func (r *room) send(ctx context.Context, s *step, size int) (sent int, length, lag time.Duration, err error) {
	n := s.hi - s.lo
	start := r.now()
	frame := make([]byte, 0, size+64)
	for sent < n {
		now := r.now()
		due := min(n, int(float64(now-start)*s.rate/float64(time.Second))+1)
		for ; sent < due; sent++ {
			if l := now - start - time.Duration(float64(sent)/s.rate*float64(time.Second)); l > lag {
				lag = l
			}
			seq := s.lo + sent
			m := r.members[seq%len(r.members)]
			frame = appendMessage(frame[:0], seq, r.now(), size)
			if err := m.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				return sent, r.now() - start, lag, fmt.Errorf("member %s: %w", m.name, err)
			}
		}
		if sent == n {
			break
		}
		next := start + time.Duration(float64(sent)/s.rate*float64(time.Second))
		select {
		case <-ctx.Done():
			return sent, r.now() - start, lag, ctx.Err()
		case <-time.After(next - r.now()):
		}
	}
	return sent, r.now() - start, lag, nil
}

// appendMessage appends the frame a member sends: {"typ":"message",
// "text":"SEQ:NANOS:xxx..."}, the text padded with x to size bytes.
func appendMessage(dst []byte, seq int, ts time.Duration, size int) []byte {
	dst = append(dst, `{"typ":"message","text":"`...)
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(ts), 10)
	dst = append(dst, ':')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}
