package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// HistoryStores returns two handles onto one new, empty store, as two
// server instances would each have, configured with opts (already
// defaulted: Size, MaxAge, MaxMessageSize). The factory registers its own
// cleanup.
type HistoryStores func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore)

// TestHistory runs the history behaviour tests as subtests.
func TestHistory(t *testing.T, stores HistoryStores) {
	h := historySuite{stores: stores}
	t.Run("AppendAndRead", h.appendAndRead)
	t.Run("ReadSince", h.readSince)
	t.Run("Limit", h.limit)
	t.Run("LimitInterleaved", h.limitInterleaved)
	t.Run("SizeCap", h.sizeCap)
	t.Run("OtherEpoch", h.otherEpoch)
	t.Run("DuplicateID", h.duplicateID)
	t.Run("RoomsApart", h.roomsApart)
	t.Run("MaxAge", h.maxAge)
	t.Run("Follow", h.follow)
	t.Run("FollowConcurrentOrder", h.followConcurrentOrder)
	t.Run("FollowStop", h.followStop)
	t.Run("BadInput", h.badInput)
	t.Run("Closed", h.closed)
}

type historySuite struct {
	stores HistoryStores
}

// open returns two handles onto a new store with opts, defaulted.
func (h historySuite) open(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
	t.Helper()
	a, b = h.stores(t, opts.WithDefaults())
	if a == nil || b == nil {
		t.Fatal("the factory returned a nil store")
	}
	return a, b
}

// sent is what a test appended: the record it expects back, less Time.
type sent struct {
	room string
	typ  int
	data []byte
	id   string
	pos  sockets.Position
}

func appendOK(t *testing.T, s sockets.HistoryStore, room string, typ int, data []byte, id string) sent {
	t.Helper()
	pos, err := s.Append(testContext(t), room, typ, data, id)
	if err != nil {
		t.Fatalf("Append(%q, %d, %q, %q): %v", room, typ, data, id, err)
	}
	if pos.IsZero() {
		t.Fatalf("Append(%q, %q): the zero position", room, id)
	}
	return sent{room: room, typ: typ, data: data, id: id, pos: pos}
}

func readOK(t *testing.T, s sockets.HistoryStore, room string, since sockets.Position, limit int) []sockets.Record {
	t.Helper()
	recs, err := s.Read(testContext(t), room, since, limit)
	if err != nil {
		t.Fatalf("Read(%q, %v, %d): %v", room, since, limit, err)
	}
	return recs
}

// expectRecords fails unless got is want, in order, with times between
// from and to (a second of slack each side).
func expectRecords(t *testing.T, what string, got []sockets.Record, want []sent, from, to time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d:\n%s", what, len(got), len(want), formatRecords(got))
	}
	for i, r := range got {
		w := want[i]
		if r.Room != w.room || r.Type != w.typ || !bytes.Equal(r.Data, w.data) || r.ID != w.id || r.Pos != w.pos {
			t.Fatalf("%s: record %d is %s, want room %q type %d data %q id %q at %v", what, i, formatRecord(r), w.room, w.typ, w.data, w.id, w.pos)
		}
		if r.Time.Before(from.Add(-time.Second)) || r.Time.After(to.Add(time.Second)) {
			t.Fatalf("%s: record %d has time %v, not between %v and %v", what, i, r.Time, from, to)
		}
	}
}

// sameRecords fails unless a and b are the same records, in the same order.
func sameRecords(t *testing.T, what string, a, b []sockets.Record) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d records against %d", what, len(a), len(b))
	}
	for i := range a {
		if !equalRecord(a[i], b[i]) {
			t.Fatalf("%s: record %d differs: %s against %s", what, i, formatRecord(a[i]), formatRecord(b[i]))
		}
	}
}

func equalRecord(a, b sockets.Record) bool {
	return a.Room == b.Room && a.Pos == b.Pos && a.Type == b.Type && bytes.Equal(a.Data, b.Data) &&
		a.Time.Equal(b.Time) && a.ID == b.ID
}

func formatRecord(r sockets.Record) string {
	return fmt.Sprintf("{room %q at %v type %d data %.40q id %q time %v}", r.Room, r.Pos, r.Type, r.Data, r.ID, r.Time)
}

func formatRecords(recs []sockets.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString("\t" + formatRecord(r) + "\n")
	}
	return b.String()
}

// increasing fails unless the records' offsets increase, in one epoch.
func increasing(t *testing.T, what string, recs []sockets.Record) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Pos.Epoch != recs[0].Pos.Epoch || recs[i].Pos.Offset <= recs[i-1].Pos.Offset {
			t.Fatalf("%s: record %d at %v after %v", what, i, recs[i].Pos, recs[i-1].Pos)
		}
	}
}

// noneMissed fails if a record says records before it were dropped: a
// follower given every record was not behind.
func noneMissed(t *testing.T, what string, recs []sockets.Record) {
	t.Helper()
	for i, r := range recs {
		if r.Missed {
			t.Fatalf("%s: record %d, %s, says records before it were missed, and none were", what, i, formatRecord(r))
		}
	}
}

func cannotRecover(t *testing.T, s sockets.HistoryStore, room string, since sockets.Position) {
	t.Helper()
	recs, err := s.Read(testContext(t), room, since, 0)
	if !errors.Is(err, sockets.ErrCannotRecover) {
		t.Fatalf("Read(%q, %v) = %d records, %v; want an error wrapping ErrCannotRecover", room, since, len(recs), err)
	}
}

// appendAndRead: offsets increase in one epoch, and Read(zero) returns
// everything kept, in order, on both handles.
func (h historySuite) appendAndRead(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	from := time.Now()
	var want []sent
	for i := range 6 {
		s, typ := a, sockets.TextMessage
		if i%2 == 1 {
			s, typ = b, sockets.BinaryMessage
		}
		data := fmt.Appendf(nil, "message %d", i)
		if typ == sockets.BinaryMessage {
			data = append(data, 0, 0xff, 0xfe)
		}
		want = append(want, appendOK(t, s, "room", typ, data, fmt.Sprintf("id-%d", i)))
	}
	to := time.Now()
	for i := 1; i < len(want); i++ {
		if want[i].pos.Epoch != want[0].pos.Epoch {
			t.Fatalf("epoch changed from %q to %q between appends", want[0].pos.Epoch, want[i].pos.Epoch)
		}
		if want[i].pos.Offset <= want[i-1].pos.Offset {
			t.Fatalf("append %d at %v after %v", i, want[i].pos, want[i-1].pos)
		}
	}
	ra := readOK(t, a, "room", sockets.Position{}, 0)
	expectRecords(t, "Read on a", ra, want, from, to)
	rb := readOK(t, b, "room", sockets.Position{}, 0)
	sameRecords(t, "Read on a and b", ra, rb)
	if got := readOK(t, a, "empty", sockets.Position{}, 0); len(got) != 0 {
		t.Fatalf("a room never used has records:\n%s", formatRecords(got))
	}
	// An empty payload is a message too.
	e := appendOK(t, b, "room", sockets.TextMessage, nil, "empty")
	got := readOK(t, a, "room", want[len(want)-1].pos, 0)
	if len(got) != 1 || len(got[0].Data) != 0 || got[0].Pos != e.pos || got[0].ID != "empty" {
		t.Fatalf("after an empty message: got\n%s", formatRecords(got))
	}
}

// readSince: Read(since) returns exactly what follows since.
func (h historySuite) readSince(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	from := time.Now()
	var want []sent
	for i := range 8 {
		s := a
		if i%3 == 0 {
			s = b
		}
		want = append(want, appendOK(t, s, "r", sockets.TextMessage, fmt.Appendf(nil, "m%d", i), fmt.Sprint(i)))
		appendOK(t, s, "other", sockets.TextMessage, []byte("noise"), fmt.Sprint("noise-", i))
	}
	to := time.Now()
	for i := range want {
		for _, s := range []sockets.HistoryStore{a, b} {
			got := readOK(t, s, "r", want[i].pos, 0)
			expectRecords(t, fmt.Sprintf("Read since record %d", i), got, want[i+1:], from, to)
		}
	}
}

// limit: Read returns the newest limit records.
func (h historySuite) limit(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	from := time.Now()
	var want []sent
	for i := range 10 {
		want = append(want, appendOK(t, a, "r", sockets.TextMessage, fmt.Appendf(nil, "m%d", i), fmt.Sprint(i)))
	}
	to := time.Now()
	expectRecords(t, "limit 3", readOK(t, b, "r", sockets.Position{}, 3), want[7:], from, to)
	expectRecords(t, "limit 1", readOK(t, a, "r", sockets.Position{}, 1), want[9:], from, to)
	expectRecords(t, "limit 10", readOK(t, b, "r", sockets.Position{}, 10), want, from, to)
	expectRecords(t, "limit 50", readOK(t, a, "r", sockets.Position{}, 50), want, from, to)
	expectRecords(t, "limit 2 since 3", readOK(t, b, "r", want[3].pos, 2), want[8:], from, to)
	expectRecords(t, "limit 9 since 3", readOK(t, a, "r", want[3].pos, 9), want[4:], from, to)
}

// limitInterleaved: in rooms interleaved unevenly (one dense long ago and
// sparse lately, one the other way round, one with fewer records than
// most limits) and capped at Size, Read with a limit returns the newest
// limit records of what Read without one returns, since the zero position
// and since each kept position, on both handles.
func (h historySuite) limitInterleaved(t *testing.T) {
	const size = 40
	a, b := h.open(t, sockets.HistoryOptions{Size: size})
	n := 0
	add := func(room string) {
		t.Helper()
		s := a
		if n%3 == 0 {
			s = b
		}
		appendOK(t, s, room, sockets.TextMessage, fmt.Appendf(nil, "%s %d", room, n), fmt.Sprint(n))
		n++
	}
	for i := range 240 {
		early, late := i < 120, i >= 120
		switch {
		case i%2 == 0 && early, i%11 == 0 && late:
			add("early")
		case i%2 == 0 && late, i%11 == 1 && early:
			add("late")
		case i%50 == 7:
			add("few")
		default:
			add(fmt.Sprint("other", i%5))
		}
	}
	newest := func(recs []sockets.Record, limit int) []sockets.Record {
		return recs[max(0, len(recs)-limit):]
	}
	for _, room := range []string{"early", "late", "few"} {
		all := readOK(t, a, room, sockets.Position{}, 0)
		for _, limit := range []int{1, 3, 10, size - 1, size, size + 1, 100} {
			for _, s := range []sockets.HistoryStore{a, b} {
				sameRecords(t, fmt.Sprintf("room %s, limit %d", room, limit), readOK(t, s, room, sockets.Position{}, limit), newest(all, limit))
			}
		}
		for i := range all {
			rest := readOK(t, a, room, all[i].Pos, 0)
			for _, limit := range []int{1, 5, size} {
				what := fmt.Sprintf("room %s since record %d of %d, limit %d", room, i, len(all), limit)
				sameRecords(t, what, readOK(t, b, room, all[i].Pos, limit), newest(rest, limit))
			}
		}
	}
}

// sizeCap: a room keeps its newest Size records; reading from a position
// whose successors were dropped is refused, from a kept one works.
func (h historySuite) sizeCap(t *testing.T) {
	const size = 5
	a, b := h.open(t, sockets.HistoryOptions{Size: size})
	from := time.Now()
	other := appendOK(t, b, "other", sockets.TextMessage, []byte("kept"), "other")
	var want []sent
	for i := range 12 {
		s := a
		if i%2 == 1 {
			s = b
		}
		want = append(want, appendOK(t, s, "r", sockets.TextMessage, fmt.Appendf(nil, "m%d", i), fmt.Sprint(i)))
	}
	to := time.Now()
	kept := want[len(want)-size:]
	for _, s := range []sockets.HistoryStore{a, b} {
		expectRecords(t, "the newest Size", readOK(t, s, "r", sockets.Position{}, 0), kept, from, to)
		expectRecords(t, "another room", readOK(t, s, "other", sockets.Position{}, 0), []sent{other}, from, to)
		// Records after these were dropped: no store may continue from
		// them without a gap.
		cannotRecover(t, s, "r", want[0].pos)
		cannotRecover(t, s, "r", want[len(want)-size-2].pos)
		// From kept records, the rest.
		expectRecords(t, "since the oldest kept", readOK(t, s, "r", kept[0].pos, 0), kept[1:], from, to)
		expectRecords(t, "since a kept one", readOK(t, s, "r", kept[2].pos, 0), kept[3:], from, to)
		expectRecords(t, "since the newest", readOK(t, s, "r", kept[size-1].pos, 0), nil, from, to)
	}
}

// otherEpoch: a position from another history is refused.
func (h historySuite) otherEpoch(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	p := appendOK(t, a, "r", sockets.TextMessage, []byte("x"), "x").pos
	appendOK(t, a, "r", sockets.TextMessage, []byte("y"), "y")
	for _, s := range []sockets.HistoryStore{a, b} {
		cannotRecover(t, s, "r", sockets.Position{Epoch: p.Epoch + "-other", Offset: p.Offset})
		cannotRecover(t, s, "r", sockets.Position{Epoch: "another epoch", Offset: 1})
	}
}

// duplicateID: an Append retried with the same id is stored once, at the
// same position.
func (h historySuite) duplicateID(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	from := time.Now()
	first := appendOK(t, a, "r", sockets.TextMessage, []byte("hello"), "msg-1")
	for _, s := range []sockets.HistoryStore{a, b, a} {
		again := appendOK(t, s, "r", sockets.TextMessage, []byte("hello"), "msg-1")
		if again.pos != first.pos {
			t.Fatalf("the same id appended again is at %v, first at %v", again.pos, first.pos)
		}
	}
	second := appendOK(t, b, "r", sockets.TextMessage, []byte("hello"), "msg-2")
	if second.pos == first.pos {
		t.Fatalf("another id got the first one's position %v", first.pos)
	}
	to := time.Now()
	for _, s := range []sockets.HistoryStore{a, b} {
		expectRecords(t, "after duplicates", readOK(t, s, "r", sockets.Position{}, 0), []sent{first, second}, from, to)
	}
}

// roomNames are valid room names that mean something to some backend.
var roomNames = []string{
	"lobby", "a.b", "a.*", ">", "a b", "tab\u00a0nbsp", "ünïcödé", "日本語", "x/y:z", "$SYS", "_INBOX.x",
	"-", "=", strings.Repeat("é", sockets.MaxRoomLen/2),
}

// roomsApart: rooms do not share records, whatever their names.
func (h historySuite) roomsApart(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	from := time.Now()
	want := map[string][]sent{}
	for round := range 2 {
		for i, room := range roomNames {
			s := a
			if (i+round)%2 == 1 {
				s = b
			}
			want[room] = append(want[room], appendOK(t, s, room, sockets.TextMessage, []byte(room), fmt.Sprintf("%d-%d", round, i)))
		}
	}
	to := time.Now()
	for _, room := range roomNames {
		for _, s := range []sockets.HistoryStore{a, b} {
			expectRecords(t, fmt.Sprintf("room %q", room), readOK(t, s, room, sockets.Position{}, 0), want[room], from, to)
		}
	}
}

// maxAgeSlack is how long past MaxAge a store may take to drop a record.
const maxAgeSlack = 1500 * time.Millisecond

// maxAge: records older than MaxAge are dropped, not before it, and not
// much after it (maxAgeSlack).
func (h historySuite) maxAge(t *testing.T) {
	const maxAge = time.Second
	a, b := h.open(t, sockets.HistoryOptions{MaxAge: maxAge})
	start := time.Now()
	appendOK(t, a, "r", sockets.TextMessage, []byte("old 1"), "1")
	appendOK(t, b, "r", sockets.TextMessage, []byte("old 2"), "2")
	if got := readOK(t, a, "r", sockets.Position{}, 0); time.Since(start) < maxAge/2 && len(got) != 2 {
		t.Fatalf("just appended: %d records, want 2:\n%s", len(got), formatRecords(got))
	}
	var got []sockets.Record
	testkit.Eventually(t, "old records dropped", func() bool {
		got = readOK(t, b, "r", sockets.Position{}, 0)
		return len(got) == 0
	})
	if d := time.Since(start); d < maxAge {
		t.Fatalf("records dropped after %v, before MaxAge %v", d, maxAge)
	} else if d > maxAge+maxAgeSlack {
		t.Fatalf("records kept for %v, MaxAge is %v (and %v of slack)", d, maxAge, maxAgeSlack)
	}
	from := time.Now()
	n := appendOK(t, b, "r", sockets.TextMessage, []byte("new"), "3")
	expectRecords(t, "after the old ones", readOK(t, a, "r", sockets.Position{}, 0), []sent{n}, from, time.Now())
}

// recorder collects what a follower delivers.
type recorder struct {
	mu   sync.Mutex
	recs []sockets.Record
}

func (r *recorder) deliver(rec sockets.Record) {
	rec.Data = append([]byte(nil), rec.Data...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}

func (r *recorder) got() []sockets.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sockets.Record(nil), r.recs...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

// followOK follows room on s into a new recorder, stopped at the end of
// the test.
func followOK(t *testing.T, s sockets.HistoryStore, room string) (*recorder, func()) {
	t.Helper()
	r := &recorder{}
	stop, err := s.Follow(room, r.deliver)
	if err != nil {
		t.Fatalf("Follow(%q): %v", room, err)
	}
	t.Cleanup(stop)
	return r, stop
}

func waitRecords(t *testing.T, what string, r *recorder, n int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%s: %d records", what, n), func() bool { return r.len() >= n })
}

// follow: followers on both handles get each record appended after Follow
// returned, once, in order; a sentinel appended last shows nothing more
// was coming.
func (h historySuite) follow(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	before := appendOK(t, a, "f", sockets.TextMessage, []byte("before"), "before")
	ra, _ := followOK(t, a, "f")
	rb, _ := followOK(t, b, "f")
	other, _ := followOK(t, a, "other")
	from := time.Now()
	var want []sent
	for i := range 10 {
		s := a
		if i%2 == 1 {
			s = b
		}
		want = append(want, appendOK(t, s, "f", sockets.TextMessage, fmt.Appendf(nil, "m%d", i), fmt.Sprint(i)))
	}
	want = append(want, appendOK(t, b, "f", sockets.BinaryMessage, []byte{0, 1, 2}, "sentinel"))
	to := time.Now()
	waitRecords(t, "follower on a", ra, len(want))
	waitRecords(t, "follower on b", rb, len(want))
	expectRecords(t, "follower on a", ra.got(), want, from, to)
	expectRecords(t, "follower on b", rb.got(), want, from, to)
	noneMissed(t, "follower on a", ra.got())
	noneMissed(t, "follower on b", rb.got())
	read := readOK(t, b, "f", before.pos, 0)
	sameRecords(t, "follower and Read", ra.got(), read)
	if n := other.len(); n != 0 {
		t.Fatalf("a follower of another room got %d records:\n%s", n, formatRecords(other.got()))
	}
}

// followConcurrentOrder: appends from both handles at once reach the
// followers of both in one order, the order Read gives on both.
func (h historySuite) followConcurrentOrder(t *testing.T) {
	const (
		writers   = 4  // per handle
		perWriter = 50 // 200 records from each handle
		total     = 2 * writers * perWriter
	)
	a, b := h.open(t, sockets.HistoryOptions{Size: total + 100})
	ra, _ := followOK(t, a, "c")
	rb, _ := followOK(t, b, "c")
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range 2 * writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Append(ctx, "c", sockets.TextMessage, []byte(id), id); err != nil {
					errs <- fmt.Errorf("Append %s: %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitRecords(t, "follower on a", ra, total)
	waitRecords(t, "follower on b", rb, total)
	fa, fb := ra.got(), rb.got()
	if len(fa) != total || len(fb) != total {
		t.Fatalf("followers got %d and %d records, want %d", len(fa), len(fb), total)
	}
	sameRecords(t, "followers on a and b", fa, fb)
	increasing(t, "follower on a", fa)
	noneMissed(t, "follower on a", fa)
	noneMissed(t, "follower on b", fb)
	seen := map[string]bool{}
	next := map[string]int{} // a writer's records arrive in the order it appended them
	for _, r := range fa {
		if seen[r.ID] || string(r.Data) != r.ID {
			t.Fatalf("record %s twice or with the wrong data", formatRecord(r))
		}
		seen[r.ID] = true
		var w, i int
		if _, err := fmt.Sscanf(r.ID, "w%d-%d", &w, &i); err != nil {
			t.Fatalf("record %s: %v", formatRecord(r), err)
		}
		if key := fmt.Sprint(w); i != next[key] {
			t.Fatalf("writer %d's record %d came when %d was due", w, i, next[key])
		} else {
			next[key]++
		}
	}
	sameRecords(t, "Read on a and the followers", readOK(t, a, "c", sockets.Position{}, 0), fa)
	sameRecords(t, "Read on b and the followers", readOK(t, b, "c", sockets.Position{}, 0), fa)
}

// followStop: once stop has returned, nothing more is delivered.
func (h historySuite) followStop(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	ra, stopA := followOK(t, a, "s")
	rb, _ := followOK(t, b, "s")
	appendOK(t, b, "s", sockets.TextMessage, []byte("1"), "1")
	waitRecords(t, "follower on a", ra, 1)
	stopA()
	stopA() // twice is harmless
	appendOK(t, a, "s", sockets.TextMessage, []byte("2"), "2")
	appendOK(t, b, "s", sockets.TextMessage, []byte("3"), "3")
	waitRecords(t, "follower on b", rb, 3)
	if got := ra.got(); len(got) != 1 {
		t.Fatalf("a stopped follower got records after stop:\n%s", formatRecords(got))
	}
	// A stop called from deliver itself returns.
	done := make(chan struct{})
	var stop func()
	var once sync.Once
	var mu sync.Mutex
	mu.Lock()
	stop, err := a.Follow("s", func(sockets.Record) {
		mu.Lock()
		defer mu.Unlock()
		once.Do(func() { stop(); close(done) })
	})
	mu.Unlock()
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	t.Cleanup(stop)
	appendOK(t, b, "s", sockets.TextMessage, []byte("4"), "4")
	select {
	case <-done:
	case <-time.After(testkit.Wait):
		t.Fatalf("stop called from deliver did not return within %v", testkit.Wait)
	}
}

// badInput: refused with an error, and nothing stored.
func (h historySuite) badInput(t *testing.T) {
	const max = 1024
	a, b := h.open(t, sockets.HistoryOptions{MaxMessageSize: max})
	ctx := testContext(t)
	badRooms := []string{"", "\xff\xfe", "a\xc3", strings.Repeat("r", sockets.MaxRoomLen+1), "a\nb", "tab\there", "nul\x00", "del\x7f"}
	for _, room := range badRooms {
		if _, err := a.Append(ctx, room, sockets.TextMessage, []byte("x"), "x"); err == nil {
			t.Errorf("Append to room %q: no error", room)
		}
		if recs, err := b.Read(ctx, room, sockets.Position{}, 0); err == nil {
			t.Errorf("Read of room %q: no error, %d records", room, len(recs))
		}
		if stop, err := b.Follow(room, func(sockets.Record) {}); err == nil {
			stop()
			t.Errorf("Follow of room %q: no error", room)
		}
	}
	bad := []struct {
		what string
		typ  int
		data []byte
	}{
		{"type 0", 0, []byte("x")},
		{"a close frame", 8, []byte{3, 232}},
		{"a ping", 9, nil},
		{"a pong", 10, nil},
		{"type -1", -1, nil},
		{"text not UTF-8", sockets.TextMessage, []byte("ok \xff\xfe")},
		{"text cut in a rune", sockets.TextMessage, []byte("caf\xc3")},
		{"text over MaxMessageSize", sockets.TextMessage, bytes.Repeat([]byte("x"), max+1)},
		{"binary over MaxMessageSize", sockets.BinaryMessage, bytes.Repeat([]byte{0}, max+1)},
	}
	for i, c := range bad {
		if _, err := a.Append(ctx, "bad", c.typ, c.data, fmt.Sprint("bad-", i)); err == nil {
			t.Errorf("Append of %s: no error", c.what)
		}
	}
	if got := readOK(t, b, "bad", sockets.Position{}, 0); len(got) != 0 {
		t.Fatalf("bad input was stored:\n%s", formatRecords(got))
	}
	// At the limits: accepted.
	from := time.Now()
	edge := []sent{
		appendOK(t, a, "bad", sockets.TextMessage, bytes.Repeat([]byte("é"), max/2), "edge-1"),
		appendOK(t, b, "bad", sockets.BinaryMessage, bytes.Repeat([]byte{0xff}, max), "edge-2"),
		appendOK(t, a, "bad", sockets.TextMessage, []byte("\x00 control characters are fine in a message\n"), "edge-3"),
	}
	expectRecords(t, "messages at the limits", readOK(t, b, "bad", sockets.Position{}, 0), edge, from, time.Now())
	longest := strings.Repeat("r", sockets.MaxRoomLen)
	l := appendOK(t, b, longest, sockets.TextMessage, []byte("x"), "x")
	expectRecords(t, "the longest room name", readOK(t, a, longest, sockets.Position{}, 0), []sent{l}, from, time.Now())
}

// closed: a closed handle refuses Append with ErrStoreClosed and delivers
// no more; the other handle is not affected.
func (h historySuite) closed(t *testing.T) {
	a, b := h.open(t, sockets.HistoryOptions{})
	ra, _ := followOK(t, a, "r")
	rb, _ := followOK(t, b, "r")
	appendOK(t, a, "r", sockets.TextMessage, []byte("before"), "before")
	waitRecords(t, "follower on a", ra, 1)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := testContext(t)
	if _, err := a.Append(ctx, "r", sockets.TextMessage, []byte("after"), "after"); !errors.Is(err, sockets.ErrStoreClosed) {
		t.Fatalf("Append after Close: %v, want an error wrapping ErrStoreClosed", err)
	}
	if recs, err := a.Read(ctx, "r", sockets.Position{}, 0); err == nil {
		t.Fatalf("Read after Close: no error, %d records", len(recs))
	}
	if stop, err := a.Follow("r", func(sockets.Record) {}); err == nil {
		stop()
		t.Fatal("Follow after Close: no error")
	}
	a.Close() // a second Close may return an error, but must not panic
	if sameHandle(a, b) {
		t.Log("one handle: the other handle's part does not apply")
		return
	}
	appendOK(t, b, "r", sockets.TextMessage, []byte("b 1"), "b1")
	appendOK(t, b, "r", sockets.TextMessage, []byte("b 2"), "b2")
	waitRecords(t, "follower on b", rb, 3)
	if got := ra.got(); len(got) != 1 {
		t.Fatalf("a follower of a closed handle got records after Close:\n%s", formatRecords(got))
	}
	if got := readOK(t, b, "r", sockets.Position{}, 0); len(got) != 3 {
		t.Fatalf("b reads %d records, want 3:\n%s", len(got), formatRecords(got))
	}
}

// sameHandle reports whether a and b are one handle (a single-process
// factory may return its store twice).
func sameHandle(a, b any) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}
