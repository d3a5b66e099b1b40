package natsjs_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// sameReads fails unless got is want: the same records, field by field.
func sameReads(t *testing.T, what string, got, want []sockets.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d\n got: %s\nwant: %s", what, len(got), len(want), offsets(got), offsets(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Room != w.Room || g.Pos != w.Pos || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) || g.ID != w.ID ||
			!g.Time.Equal(w.Time) || g.Missed {
			t.Fatalf("%s: record %d is %+v, want %+v", what, i, g, w)
		}
	}
}

func offsets(recs []sockets.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprint(&b, r.Pos.Offset, " ")
	}
	return b.String()
}

// newest is the newest n of recs.
func newest(recs []sockets.Record, n int) []sockets.Record {
	if len(recs) > n {
		return recs[len(recs)-n:]
	}
	return recs
}

// jsRequests counts the JetStream API requests sent on the server, by
// kind: a connection of its own subscribes to every subject.
type jsRequests struct {
	mu     sync.Mutex
	counts map[string]int
	marks  chan struct{}
}

// markSubject is published after the requests to count: the counting
// subscription gets a publisher's messages in order, so that when it has
// the mark, it has every request sent before it.
const markSubject = "lastread.mark"

func countRequests(t *testing.T, url string) *jsRequests {
	t.Helper()
	nc := dial(t, url)
	r := &jsRequests{counts: map[string]int{}, marks: make(chan struct{}, 1)}
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		if m.Subject == markSubject {
			r.marks <- struct{}{}
			return
		}
		rest, ok := strings.CutPrefix(m.Subject, "$JS.API.")
		if !ok {
			return
		}
		kind := strings.Split(rest, ".")[0]
		if kind == "DIRECT" {
			kind += "." + strings.Split(rest, ".")[1]
		}
		r.mu.Lock()
		r.counts[kind]++
		r.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// take returns the counts of the requests nc has sent since the last take,
// and starts over.
func (r *jsRequests) take(t *testing.T, nc *nats.Conn) map[string]int {
	t.Helper()
	if err := nc.Publish(markSubject, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.marks:
	case <-time.After(testkit.Wait):
		t.Fatal("the counting connection did not get the mark")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	r.counts = map[string]int{}
	return c
}

// TestReadLastMatchesFullRead: Read with a limit returns exactly the newest
// limit records of what Read without one returns, since any position, in
// rooms interleaved in one stream and spread over it evenly, unevenly
// (dense long ago and sparse lately, and the other way round), with fewer
// records than the limit, with messages on the room's subject that are not
// records, in a stream whose rooms keep everything and in one whose rooms
// keep fewer than some limits. It creates no consumer, and a room spread
// evenly costs one batch of about the records it returns, and the check
// that the oldest is still kept.
func TestReadLastMatchesFullRead(t *testing.T) {
	s := startJS(t)
	for _, size := range []int{1000, 40} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			name := uniqueName("LAST")
			o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: size}, Stream: name, SubjectPrefix: "last." + name}
			nc := dial(t, s.ClientURL())
			h := newHistory(t, nc, o)
			js := jsOf(t, s.ClientURL())
			rng := rand.New(rand.NewPCG(1, uint64(size)))
			n := 0
			add := func(room string) {
				t.Helper()
				n++
				typ, data := sockets.TextMessage, fmt.Appendf(nil, "%s %d", room, n)
				if n%5 == 0 {
					typ, data = sockets.BinaryMessage, append(data, 0, 0xff)
				}
				if _, err := h.Append(ctxT(t), room, typ, data, fmt.Sprint(n)); err != nil {
					t.Fatal(err)
				}
			}
			// Phase 1: "early" is dense, "late" sparse; "even" and
			// "noise" throughout.
			for i := range 600 {
				switch {
				case i%2 == 0:
					add("early")
				case i%7 == 1:
					add("late")
				case i%3 == 1:
					add("even")
				default:
					add(fmt.Sprint("noise", rng.IntN(20)))
				}
			}
			// Messages that are not records, on the subject of "even".
			for range 3 {
				if _, err := js.Publish(ctxT(t), "last."+name+"."+base64.RawURLEncoding.EncodeToString([]byte("even")), []byte("stranger")); err != nil {
					t.Fatal(err)
				}
				add("even")
			}
			// Phase 2: "late" is dense, "early" sparse; "few" has 7 records
			// in all.
			for i := range 600 {
				switch {
				case i%2 == 0:
					add("late")
				case i%29 == 1:
					add("early")
				case i%3 == 1:
					add("even")
				case i%80 == 5:
					add("few")
				default:
					add(fmt.Sprint("noise", rng.IntN(20)))
				}
			}
			reqs := countRequests(t, s.ClientURL())
			for _, room := range []string{"early", "late", "even", "few", "noise3", "empty"} {
				all := readOK(t, h, room, sockets.Position{}, 0)
				t.Logf("room %s keeps %d records", room, len(all))
				reqs.take(t, nc)
				for _, limit := range []int{1, 2, 7, 30, 50, 51, 120, 1000} {
					what := fmt.Sprintf("room %s, limit %d", room, limit)
					before := nc.Stats()
					got := readOK(t, h, room, sockets.Position{}, limit)
					after := nc.Stats()
					sameReads(t, what, got, newest(all, limit))
					c := reqs.take(t, nc)
					if c["CONSUMER"] != 0 {
						t.Fatalf("%s: %d consumer requests, want none: %v", what, c["CONSUMER"], c)
					}
					if c["STREAM"] != 1 {
						t.Fatalf("%s: %d stream requests, want 1 (the info): %v", what, c["STREAM"], c)
					}
					in := after.InMsgs - before.InMsgs
					t.Logf("%s: %d records, %d messages received, requests %v", what, len(got), in, c)
					if room == "even" && size == 1000 && (in > uint64(2*limit+10) || c["DIRECT.GET"] != 2) {
						t.Fatalf("%s: %d messages received for %d records, %d direct gets, want about the records and 2 (the batch, the check)",
							what, in, len(got), c["DIRECT.GET"])
					}
				}
				// Since a position: inside the last limit, at the newest, older.
				for _, i := range []int{len(all) - 1, len(all) - 2, len(all) - 5, len(all) - 40, len(all) / 2, 0} {
					if i < 0 || i >= len(all) {
						continue
					}
					since := all[i].Pos
					rest := readOK(t, h, room, since, 0)
					for _, limit := range []int{1, 3, 30, 50} {
						got := readOK(t, h, room, since, limit)
						sameReads(t, fmt.Sprintf("room %s since record %d of %d, limit %d", room, i, len(all), limit), got, newest(rest, limit))
					}
				}
			}
		})
	}
}

// readOK is Read, failing the test on an error.
func readOK(t *testing.T, h *natsjs.History, room string, since sockets.Position, limit int) []sockets.Record {
	t.Helper()
	recs, err := h.Read(ctxT(t), room, since, limit)
	if err != nil {
		t.Fatalf("Read(%q, %v, %d): %v", room, since, limit, err)
	}
	return recs
}

// tappedConn runs an action once the server has answered a given request:
// the connection's reader is held while it runs, so that the client sees
// the answer only after the action.
type tappedConn struct {
	net.Conn
	t *tap
}

type tap struct {
	mu      sync.Mutex
	request []byte // what the request written contains
	answer  []byte // what the answer read contains
	action  func()
	sent    bool
	ran     atomic.Bool
}

// arm makes the tap run action once: after a write containing request, at
// the first read containing answer.
func (tp *tap) arm(request, answer string, action func()) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.request, tp.answer, tp.action, tp.sent = []byte(request), []byte(answer), action, false
	tp.ran.Store(false)
}

func (c *tappedConn) Write(b []byte) (int, error) {
	c.t.mu.Lock()
	if c.t.action != nil && !c.t.sent && bytes.Contains(b, c.t.request) {
		c.t.sent = true
	}
	c.t.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *tappedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.t.mu.Lock()
	var action func()
	if c.t.action != nil && c.t.sent && bytes.Contains(b[:n], c.t.answer) {
		action, c.t.action = c.t.action, nil
	}
	c.t.mu.Unlock()
	if action != nil {
		action()
		c.t.ran.Store(true)
	}
	return n, err
}

// wrapDialer dials the server and hands the connection to wrap: a test
// then sees, or holds, what the client writes and reads.
type wrapDialer func(net.Conn) net.Conn

func (wrap wrapDialer) Dial(network, address string) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return wrap(c), nil
}

// tapped is a History whose connection goes through a tap, and another
// History on the same stream, on a connection of its own, for the tap's
// actions.
func tapped(t *testing.T, o *natsjs.HistoryOptions) (h *natsjs.History, tp *tap, other *natsjs.History) {
	t.Helper()
	s := startJS(t)
	tp = &tap{}
	h = newHistory(t, dial(t, s.ClientURL(), nats.SetCustomDialer(wrapDialer(func(c net.Conn) net.Conn { return &tappedConn{Conn: c, t: tp} }))), o)
	other = newHistory(t, dial(t, s.ClientURL()), o)
	return h, tp, other
}

// appendN appends n records to room, failing the test on an error (from
// any goroutine: it stops at the first).
func appendN(t *testing.T, h *natsjs.History, room string, n int, what string) []sockets.Position {
	t.Helper()
	var pos []sockets.Position
	for i := range n {
		p, err := h.Append(ctxT(t), room, sockets.TextMessage, fmt.Appendf(nil, "%s %d", what, i), fmt.Sprint(what, i))
		if err != nil {
			t.Error(err)
			break
		}
		pos = append(pos, p)
	}
	return pos
}

func positions(recs []sockets.Record) []sockets.Position {
	var p []sockets.Position
	for _, r := range recs {
		p = append(p, r.Pos)
	}
	return p
}

// batchRequest is in the request of a batched direct get, and not in the
// single get Read sends before it.
const batchRequest = `"batch":`

// TestReadLastLeavesOutWhatCameAfter: records stored after Read asked for
// the stream's last sequence are not returned (Follow has them), even
// when the batch the server sends has them.
func TestReadLastLeavesOutWhatCameAfter(t *testing.T) {
	h, tp, other := tapped(t, &natsjs.HistoryOptions{Stream: uniqueName("AFTER"), SubjectPrefix: uniqueName("after")})
	before := appendN(t, other, "r", 10, "before")
	appendN(t, other, "noise", 3, "noise")
	tp.arm("$JS.API.STREAM.INFO.", `"created"`, func() { appendN(t, other, "r", 3, "after") })
	recs := readOK(t, h, "r", sockets.Position{}, 5)
	if !tp.ran.Load() {
		t.Fatal("the records were not appended during the read")
	}
	if got, want := positions(recs), before[5:]; !slices.Equal(got, want) {
		t.Fatalf("Read(limit 5) with 3 records appended after the stream's info: %v, want the 5 before %v", got, want)
	}
	if all := readOK(t, h, "r", sockets.Position{}, 0); len(all) != 13 {
		t.Fatalf("afterwards the room has %d records, want 13", len(all))
	}
}

// TestReadLastDroppedMeanwhile: records of the last limit that the stream
// drops after the server has sent them, before Read returns, are left out
// with every older one (MaxMsgsPerSubject, and MaxAge).
func TestReadLastDroppedMeanwhile(t *testing.T) {
	t.Run("Size", func(t *testing.T) {
		const size = 10
		h, tp, other := tapped(t, &natsjs.HistoryOptions{
			HistoryOptions: sockets.HistoryOptions{Size: size}, Stream: uniqueName("DROP"), SubjectPrefix: uniqueName("drop"),
		})
		old := appendN(t, other, "r", size, "old")
		appendN(t, other, "noise", 3, "noise")
		// Read wants old[5:]; while its answer waits, 7 more come, and
		// the room keeps old[7:] and those.
		tp.arm(batchRequest, "HMSG", func() { appendN(t, other, "r", 7, "new") })
		recs := readOK(t, h, "r", sockets.Position{}, 5)
		if !tp.ran.Load() {
			t.Fatal("no batch was answered during the read")
		}
		if got, want := positions(recs), old[7:]; !slices.Equal(got, want) {
			t.Fatalf("Read(limit 5), old[5] and old[6] dropped meanwhile: %v, want %v", got, want)
		}
		// All of them dropped: nothing.
		tp.arm(batchRequest, "HMSG", func() { appendN(t, other, "r", size, "newer") })
		if recs := readOK(t, h, "r", sockets.Position{}, 4); len(recs) != 0 || !tp.ran.Load() {
			t.Fatalf("Read(limit 4), every record read dropped meanwhile: %v (tap ran: %v), want none", positions(recs), tp.ran.Load())
		}
	})
	t.Run("MaxAge", func(t *testing.T) {
		const maxAge = 3 * time.Second
		h, tp, other := tapped(t, &natsjs.HistoryOptions{
			HistoryOptions: sockets.HistoryOptions{MaxAge: maxAge}, Stream: uniqueName("AGE"), SubjectPrefix: uniqueName("age"),
		})
		old := appendN(t, other, "r", 5, "old")
		time.Sleep(maxAge * 2 / 3)
		young := appendN(t, other, "r", 3, "young")
		// Read wants old[3:] and young; while its answer waits, the old
		// ones expire.
		tp.arm(batchRequest, "HMSG", func() {
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if recs, err := other.Read(ctxT(t), "r", sockets.Position{}, 0); err == nil && (len(recs) == 0 || recs[0].Pos.Offset > old[4].Offset) {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Error("the old records did not expire")
		})
		recs := readOK(t, h, "r", sockets.Position{}, 5)
		if !tp.ran.Load() {
			t.Fatal("no batch was answered during the read")
		}
		if got := positions(recs); !slices.Equal(got, young) {
			t.Fatalf("Read(limit 5), old[3:] expired meanwhile: %v, want the young ones %v", got, young)
		}
	})
}

// TestReadLastWhileAppending: reads with a limit while rooms are appended
// to and capped, concurrently: each result is a run of the room's records
// with none missing between, each record as appended.
func TestReadLastWhileAppending(t *testing.T) {
	s := startJS(t)
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 30}, Stream: uniqueName("BUSY"), SubjectPrefix: uniqueName("busy")}
	h := newHistory(t, dial(t, s.ClientURL()), o)
	w := newHistory(t, dial(t, s.ClientURL()), o)
	const rooms = 4
	var mu sync.Mutex
	data := map[sockets.Position]string{} // every record appended
	prev := map[sockets.Position]sockets.Position{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range rooms {
		wg.Go(func() {
			room := fmt.Sprint("room", r)
			var last sockets.Position
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := fmt.Sprint(room, " ", i)
				p, err := w.Append(context.Background(), room, sockets.TextMessage, []byte(d), "")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				data[p], prev[p] = d, last
				mu.Unlock()
				last = p
			}
		})
	}
	type read struct {
		room  string
		limit int
		recs  []sockets.Record
	}
	var reads []read
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		room := fmt.Sprint("room", i%rooms)
		limit := []int{1, 5, 20, 30, 50}[i%5]
		recs, err := h.Read(ctxT(t), room, sockets.Position{}, limit)
		if err != nil {
			t.Errorf("Read(%q, limit %d): %v", room, limit, err)
			break
		}
		reads = append(reads, read{room, limit, recs})
	}
	close(stop)
	wg.Wait()
	// Every record was appended so, and follows the one appended before it.
	for _, rd := range reads {
		if len(rd.recs) > rd.limit {
			t.Fatalf("%d records for a limit of %d", len(rd.recs), rd.limit)
		}
		for i, r := range rd.recs {
			if d, ok := data[r.Pos]; !ok || string(r.Data) != d || r.Room != rd.room {
				t.Fatalf("room %s: record %+v was not appended so (%q)", rd.room, r, d)
			}
			if i > 0 && prev[r.Pos] != rd.recs[i-1].Pos {
				t.Fatalf("room %s, limit %d: record %v follows %v, but %v came between", rd.room, rd.limit, r.Pos, rd.recs[i-1].Pos, prev[r.Pos])
			}
		}
	}
	t.Logf("%d reads, %d records appended", len(reads), len(data))
}

// TestReadLastBursts: rooms appended to in bursts of random lengths, read
// with random limits, since the zero position and since positions kept:
// Read with a limit returns the newest limit records of what Read without
// one returns.
func TestReadLastBursts(t *testing.T) {
	s := startJS(t)
	for _, size := range []int{1000, 60} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: size}, Stream: uniqueName("BURST"), SubjectPrefix: uniqueName("burst")}
			h := newHistory(t, dial(t, s.ClientURL()), o)
			rng := rand.New(rand.NewPCG(7, uint64(size)))
			const rooms = 6
			for n := 0; n < 1500; {
				room := fmt.Sprint("room", rng.IntN(rooms))
				for range 1 + rng.IntN(60) {
					if _, err := h.Append(ctxT(t), room, sockets.TextMessage, fmt.Appendf(nil, "%d", n), ""); err != nil {
						t.Fatal(err)
					}
					n++
				}
			}
			for r := range rooms {
				room := fmt.Sprint("room", r)
				all := readOK(t, h, room, sockets.Position{}, 0)
				for range 20 {
					limit := 1 + rng.IntN(len(all)+20)
					sameReads(t, fmt.Sprintf("%s (%d records), limit %d", room, len(all), limit), readOK(t, h, room, sockets.Position{}, limit), newest(all, limit))
					i := rng.IntN(len(all))
					rest := readOK(t, h, room, all[i].Pos, 0)
					sameReads(t, fmt.Sprintf("%s (%d records) since record %d, limit %d", room, len(all), i, limit), readOK(t, h, room, all[i].Pos, limit), newest(rest, limit))
				}
			}
		})
	}
}
