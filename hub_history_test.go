package sockets

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// historyServer serves /ws?room=R&since=POS: the connection joins R since
// POS (JoinSince) in h, and the handler publishes what it receives.
type historyServer struct {
	*httptest.Server
	hub *Hub
}

func newHistoryServer(t *testing.T, h *Hub, opts *Options) *historyServer {
	t.Helper()
	hs := &historyServer{hub: h}
	m := macaron.New()
	m.Get("/ws", Messages(opts), func(ctx *macaron.Context, c *Conn, receiver <-chan string, sender chan<- string, done <-chan bool) {
		since, err := ParsePosition(ctx.Query("since"))
		if err == nil {
			err = h.JoinSince(context.Background(), ctx.Query("room"), c, since)
		}
		if err != nil {
			sender <- `{"error":` + jsonString(err.Error()) + `}`
			<-done
			return
		}
		for {
			select {
			case m := <-receiver:
				if err := h.Publish(ctx.Query("room"), TextMessage, []byte(m)); err != nil {
					sender <- `{"error":` + jsonString(err.Error()) + `}`
				}
			case <-done:
				return
			}
		}
	})
	hs.Server = httptest.NewServer(m)
	t.Cleanup(hs.Close)
	return hs
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (hs *historyServer) dial(t *testing.T, room string, since Position) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?room=" + room + "&since=" + since.String()
	if since.IsZero() {
		u = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?room=" + room
	}
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// historyFrame is what DefaultHistoryFrame makes of the test's messages.
type historyFrame struct {
	Pos   string `json:"pos"`
	N     int    `json:"n"`
	Error string `json:"error"`
}

func readHistoryFrame(t *testing.T, ws *websocket.Conn) (historyFrame, Position) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f historyFrame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	if f.Error != "" {
		return f, Position{}
	}
	pos, err := ParsePosition(f.Pos)
	if err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return f, pos
}

func newHistoryHub(t *testing.T, store HistoryStore) *Hub {
	t.Helper()
	h, err := NewHub(&HubOptions{History: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// A member that reconnects since the last position it saw gets exactly
// what it missed, then live messages, with no gap and no duplicate, while
// messages keep coming; every member sees one order, with positions.
func TestJoinSinceRecoversWithoutGapOrDuplicate(t *testing.T) {
	store := NewMemoryHistory(&HistoryOptions{Size: 10000})
	t.Cleanup(func() { store.Close() })
	h := newHistoryHub(t, store)
	opts := quiet()
	opts.HubQueueSize = 10000
	hs := newHistoryServer(t, h, opts)

	const total = 1500
	watcher := hs.dial(t, "r", Position{})
	publisher := hs.dial(t, "r", Position{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= total; i++ {
			if err := publisher.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
		}
	}()

	// A client reads some, goes away, and comes back since its last one
	// while the publisher goes on.
	first := hs.dial(t, "r", Position{})
	var last Position
	var got []int
	for len(got) < 200 {
		f, pos := readHistoryFrame(t, first)
		got = append(got, f.N)
		last = pos
	}
	first.Close()
	again := hs.dial(t, "r", last)
	for len(got) < total {
		f, _ := readHistoryFrame(t, again)
		if f.Error != "" {
			t.Fatalf("rejoin: %s", f.Error)
		}
		got = append(got, f.N)
	}
	wg.Wait()
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("message %d: got n=%d, want %d (a gap or a duplicate around the reconnection)", i, n, i+1)
		}
	}
	// The watcher saw them all once, in the same order.
	for i := 1; i <= total; i++ {
		if f, _ := readHistoryFrame(t, watcher); f.N != i {
			t.Fatalf("watcher: message %d is n=%d", i, f.N)
		}
	}
}

// A position older than what the history keeps, or from another epoch,
// cannot be continued: JoinSince says so and does not join; the zero
// Position gets what is kept, then live messages.
func TestJoinSinceCannotRecover(t *testing.T) {
	store := NewMemoryHistory(&HistoryOptions{Size: 5})
	t.Cleanup(func() { store.Close() })
	h := newHistoryHub(t, store)
	ctx := context.Background()
	var positions []Position
	for i := 1; i <= 12; i++ {
		pos, err := store.Append(ctx, "r", TextMessage, []byte(fmt.Sprintf(`{"n":%d}`, i)), "")
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, pos)
	}
	hs := newHistoryServer(t, h, quiet())
	for _, since := range []Position{positions[2], {Epoch: "elsewhere", Offset: positions[10].Offset}} {
		ws := hs.dial(t, "r", since)
		if f, _ := readHistoryFrame(t, ws); !strings.Contains(f.Error, "cannot recover") {
			t.Errorf("since %v: got %+v, want cannot recover", since, f)
		}
	}
	if n := h.Count("r"); n != 0 {
		t.Errorf("%d members after refused joins, want 0", n)
	}
	ws := hs.dial(t, "r", Position{})
	for want := 8; want <= 12; want++ {
		if f, _ := readHistoryFrame(t, ws); f.N != want {
			t.Fatalf("history: got n=%d, want %d", f.N, want)
		}
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"n":13}`))
	if f, pos := readHistoryFrame(t, ws); f.N != 13 || pos.Offset <= positions[11].Offset {
		t.Errorf("live: got n=%d at %v", f.N, pos)
	}
}

// Two hubs on one store, as two instances: what both publish at the same
// moment reaches every member in one order, the store's.
func TestHistoryOrderIsTheSameOnEveryHub(t *testing.T) {
	store := NewMemoryHistory(&HistoryOptions{Size: 10000})
	t.Cleanup(func() { store.Close() })
	opts := quiet()
	opts.HubQueueSize = 10000
	a := newHistoryServer(t, newHistoryHub(t, store), opts)
	b := newHistoryServer(t, newHistoryHub(t, store), opts)
	wa, wb := a.dial(t, "r", Position{}), b.dial(t, "r", Position{})
	pa, pb := a.dial(t, "r", Position{}), b.dial(t, "r", Position{})
	const each = 300
	var wg sync.WaitGroup
	for i, p := range []*websocket.Conn{pa, pb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < each; n++ {
				p.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"n":%d}`, i*each+n)))
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 2*each; i++ {
		fa, posA := readHistoryFrame(t, wa)
		fb, posB := readHistoryFrame(t, wb)
		if fa.N != fb.N || posA != posB {
			t.Fatalf("message %d: instance a got n=%d at %v, b n=%d at %v", i, fa.N, posA, fb.N, posB)
		}
	}
}

// PublishExcept leaves the sender out of a room with history too; a store
// that fails makes Publish fail, and nothing is delivered.
func TestHistoryPublishExceptAndStoreFailure(t *testing.T) {
	store := NewMemoryHistory(nil)
	h := newHistoryHub(t, store)
	sender, other := fakeConn(t, 8), fakeConn(t, 8)
	h.Join("r", sender)
	h.Join("r", other)
	if err := h.PublishExcept("r", sender, TextMessage, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if n, m := len(queued(sender)), len(queued(other)); n != 0 || m != 1 {
		t.Errorf("sender got %d, other %d; want 0 and 1", n, m)
	}
	store.Close()
	if err := h.Publish("r", TextMessage, []byte("after")); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("publish to a closed store: %v, want ErrStoreClosed", err)
	}
	if n := len(queued(other)); n != 0 {
		t.Errorf("%d frames delivered though the store failed", n)
	}
	if s := h.Stats(); s.StoreErrors != 1 {
		t.Errorf("stats: %+v, want one store error", s)
	}
}

// A hub with history refuses bad input with an error and loses nothing
// else: a room name the stores refuse (empty, not UTF-8, too long, with a
// control character) for publishing and for joining, a frame that is not
// text or binary or text that is not UTF-8 (the hub's own refusals,
// counted as Refused, not as store errors), and a message over the
// store's MaxMessageSize; the room's next message goes out and is kept.
func TestHistoryHubRefusesBadInput(t *testing.T) {
	const max = 64
	store := NewMemoryHistory(&HistoryOptions{MaxMessageSize: max})
	t.Cleanup(func() { store.Close() })
	h := newHistoryHub(t, store)
	member := fakeConn(t, 16)
	if err := h.Join("r", member); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	badRooms := []string{"", "\xff\xfe", strings.Repeat("r", MaxRoomLen+1), "a\nb", "nul\x00"}
	for _, room := range badRooms {
		if err := h.Publish(room, TextMessage, []byte(`{"n":1}`)); err == nil {
			t.Errorf("Publish to room %q: no error", room)
		}
		if err := h.JoinSince(ctx, room, fakeConn(t, 4), Position{}); err == nil {
			t.Errorf("JoinSince room %q: no error", room)
		}
		if err := h.JoinWith(ctx, room, fakeConn(t, 4), JoinOptions{Last: 5}); err == nil {
			t.Errorf("JoinWith room %q: no error", room)
		}
	}
	badFrames := []struct {
		what string
		typ  int
		data []byte
	}{
		{"a ping", websocket.PingMessage, nil},
		{"text not UTF-8", TextMessage, []byte("caf\xc3")},
	}
	for _, b := range badFrames {
		if err := h.Publish("r", b.typ, b.data); err == nil {
			t.Errorf("Publish of %s: no error", b.what)
		}
	}
	if err := h.Publish("r", BinaryMessage, make([]byte, max+1)); err == nil {
		t.Errorf("Publish of %d bytes, over MaxMessageSize %d: no error", max+1, max)
	}
	s := h.Stats()
	if want := uint64(len(badRooms) + len(badFrames)); s.Refused != want {
		t.Errorf("Refused %d, want %d (the hub's own refusals)", s.Refused, want)
	}
	if err := h.Publish("r", TextMessage, []byte(`{"n":2}`)); err != nil {
		t.Fatalf("a good message after the bad ones: %v", err)
	}
	if n := len(queued(member)); n != 1 {
		t.Errorf("the member got %d frames, want the good one only", n)
	}
	recs, err := store.Read(ctx, "r", Position{}, 0)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != `{"n":2}` {
		t.Errorf("kept: %v, %+v; want the good message only", err, recs)
	}
	if n := h.Count("r"); n != 1 {
		t.Errorf("room r has %d members, want 1", n)
	}
}

// HubOptions.HistoryFrame builds the frame members get, with the
// record's position, once per message whatever the number of members; a
// member joining since a position gets what it missed built by it too.
func TestHistoryFrameOncePerMessage(t *testing.T) {
	store := NewMemoryHistory(nil)
	t.Cleanup(func() { store.Close() })
	var calls atomic.Int64
	h, err := NewHub(&HubOptions{History: store, HistoryFrame: func(rec Record) (int, []byte) {
		calls.Add(1)
		return BinaryMessage, fmt.Appendf(nil, "%s|%s", rec.Pos, rec.Data)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	members := []*Conn{fakeConn(t, 8), fakeConn(t, 8), fakeConn(t, 8)}
	for _, c := range members {
		if err := h.Join("r", c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if err := h.Publish("r", TextMessage, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("HistoryFrame called %d times for 4 messages to 3 members, want 4", n)
	}
	recs, err := store.Read(context.Background(), "r", Position{}, 0)
	if err != nil || len(recs) != 4 {
		t.Fatalf("kept: %v, %d records", err, len(recs))
	}
	for i, c := range members {
		frames := queued(c)
		if len(frames) != 4 {
			t.Fatalf("member %d got %d frames, want 4", i, len(frames))
		}
		for k, pm := range frames {
			if got, want := preparedPayload(t, pm), fmt.Sprintf("%s|m%d", recs[k].Pos, k); got != want {
				t.Errorf("member %d, frame %d: %q, want %q", i, k, got, want)
			}
		}
	}
	late := fakeConn(t, 8)
	if err := h.JoinSince(context.Background(), "r", late, recs[1].Pos); err != nil {
		t.Fatal(err)
	}
	frames := queued(late)
	if len(frames) != 2 || preparedPayload(t, frames[0]) != fmt.Sprintf("%s|m2", recs[2].Pos) {
		t.Fatalf("joined since %v: %d frames, want m2 and m3 as HistoryFrame builds them", recs[1].Pos, len(frames))
	}
}

// The default frame puts the position first in a JSON object and leaves
// anything else as published.
func TestDefaultHistoryFrame(t *testing.T) {
	pos := Position{Epoch: "e1", Offset: 42}
	for _, tc := range []struct {
		typ        int
		data, want string
	}{
		{TextMessage, `{"a":1}`, `{"pos":"e1:42","a":1}`},
		{TextMessage, `{ }`, `{"pos":"e1:42"}`},
		{TextMessage, `{}`, `{"pos":"e1:42"}`},
		{TextMessage, `plain`, `plain`},
		{TextMessage, `[1]`, `[1]`},
		{BinaryMessage, `{"a":1}`, `{"a":1}`},
	} {
		mt, got := DefaultHistoryFrame(Record{Pos: pos, Type: tc.typ, Data: []byte(tc.data)})
		if mt != tc.typ || string(got) != tc.want {
			t.Errorf("%d %s: got %d %s, want %s", tc.typ, tc.data, mt, got, tc.want)
		}
		if tc.typ == TextMessage && strings.HasPrefix(tc.want, "{") && !json.Valid(got) {
			t.Errorf("%s: %s is not JSON", tc.data, got)
		}
	}
}

// Claims through the hub: one holder per key, released when its connection
// closes; members and events from the store.
func TestHubPresence(t *testing.T) {
	store := NewMemoryPresence(nil)
	t.Cleanup(func() { store.Close() })
	h, err := NewHub(&HubOptions{Presence: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	var events []PresenceEvent
	stop, err := h.WatchPresence("r", func(e PresenceEvent) { mu.Lock(); events = append(events, e); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ann, bob := fakeConn(t, 4), fakeConn(t, 4)
	if _, err := h.Claim(ctx, "r", ann, "ann", []byte("Ann")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Claim(ctx, "r", bob, "ann", nil); !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("second claim: %v, want ErrKeyTaken", err)
	}
	members, err := h.Presence(ctx, "r")
	if err != nil || len(members) != 1 || members[0].Key != "ann" || string(members[0].Info) != "Ann" {
		t.Fatalf("members %+v, %v", members, err)
	}
	ann.markGone() // as its closer does
	testkit.Eventually(t, "ann's claim released", func() bool {
		m, _ := h.Presence(ctx, "r")
		return len(m) == 0
	})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Left || !events[1].Left || events[1].Key != "ann" {
		t.Errorf("events %+v, want ann's join and leave", events)
	}
}

// scriptedHistory hands out the records it is given, and runs duringRead
// while Read is under way, as a live delivery racing the read would.
type scriptedHistory struct {
	HistoryStore
	records    []Record
	deliver    func(Record)
	duringRead func()
}

func (s *scriptedHistory) Follow(room string, deliver func(Record)) (func(), error) {
	s.deliver = deliver
	return func() {}, nil
}

func (s *scriptedHistory) Read(ctx context.Context, room string, since Position, limit int) ([]Record, error) {
	if s.duringRead != nil {
		s.duringRead()
	}
	var out []Record
	for _, r := range s.records {
		if r.Pos.Offset > since.Offset {
			out = append(out, r)
		}
	}
	return out, nil
}

// The splice of a member's catch-up with live delivery, step by step: a
// live record that arrives during the read waits, one the read already
// sent is not sent again, the next one goes out.
func TestJoinSinceSplice(t *testing.T) {
	s := &scriptedHistory{records: []Record{spliceRecord(1), spliceRecord(2), spliceRecord(3), spliceRecord(4), spliceRecord(5)}}
	s.duringRead = func() { s.deliver(spliceRecord(4)) } // live, while reading
	h := newHistoryHub(t, s)
	c := fakeConn(t, 16)
	if err := h.JoinSince(context.Background(), "r", c, Position{Epoch: "e", Offset: 1}); err != nil {
		t.Fatal(err)
	}
	s.deliver(spliceRecord(5)) // the read sent it already
	s.deliver(spliceRecord(6))
	s.deliver(spliceRecord(7))
	wantRecords2To7(t, c)
}

// The other side of the splice: a live record that arrives during the
// read but is newer than what the read returns (appended after the read's
// snapshot) is sent from what waited, after the read's records and once;
// those the read returned too are not sent twice.
func TestJoinSinceSpliceSendsWhatWaited(t *testing.T) {
	s := &scriptedHistory{records: []Record{spliceRecord(1), spliceRecord(2), spliceRecord(3), spliceRecord(4), spliceRecord(5)}}
	s.duringRead = func() {
		s.deliver(spliceRecord(4)) // in the read too
		s.deliver(spliceRecord(5)) // in the read too
		s.deliver(spliceRecord(6)) // not in the read: only what waited has it
	}
	h := newHistoryHub(t, s)
	c := fakeConn(t, 16)
	if err := h.JoinSince(context.Background(), "r", c, Position{Epoch: "e", Offset: 1}); err != nil {
		t.Fatal(err)
	}
	s.deliver(spliceRecord(7))
	wantRecords2To7(t, c)
}

// preparedPayload is the payload of the frame pm writes.
func preparedPayload(t *testing.T, pm *websocket.PreparedMessage) string {
	t.Helper()
	w := &fakeHijack{in: bytes.NewReader(nil)}
	r := &http.Request{Method: http.MethodGet, Header: http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WritePreparedMessage(pm); err != nil {
		t.Fatal(err)
	}
	out := w.out.Bytes()
	out = out[bytes.Index(out, []byte("\r\n\r\n"))+4:]
	n, head := int(out[1]&0x7f), 2
	switch n {
	case 126:
		n, head = int(binary.BigEndian.Uint16(out[2:4])), 4
	case 127:
		n, head = int(binary.BigEndian.Uint64(out[2:10])), 10
	}
	return string(out[head : head+n])
}

// PublishExcept keeps nothing for a message that will not come back here:
// to a room without members on this hub, or once the room is left.
func TestHistoryExceptsAreNotKept(t *testing.T) {
	h := newHistoryHub(t, NewMemoryHistory(nil))
	c := fakeConn(t, 8)
	for i := 0; i < 100; i++ {
		h.PublishExcept("elsewhere", c, TextMessage, []byte("x"))
	}
	h.catchMu.Lock()
	n := len(h.excepts)
	h.catchMu.Unlock()
	if n != 0 {
		t.Errorf("%d entries kept for messages to a room without members here", n)
	}
}

// followedHistory is a scripted store whose follower the test drives: the
// hub's deliver, once the hub follows the room, and a hook run while Read
// is under way.
type followedHistory struct {
	HistoryStore
	mu         sync.Mutex
	deliver    func(Record)
	duringRead func()
}

func (s *followedHistory) Follow(room string, deliver func(Record)) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliver = deliver
	return func() {}, nil
}

func (s *followedHistory) Read(ctx context.Context, room string, since Position, limit int) ([]Record, error) {
	s.mu.Lock()
	f := s.duringRead
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return nil, nil
}

// deliverNow waits for the hub to follow the room, then hands it rec.
func (s *followedHistory) deliverNow(t *testing.T, rec Record) {
	t.Helper()
	var deliver func(Record)
	testkit.Eventually(t, "the hub following the room", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		deliver = s.deliver
		return deliver != nil
	})
	deliver(rec)
}

// readCloseOnly reads the server's close frame, failing on any message
// before it.
func readCloseOnly(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("read: got %q, %v; want a close frame", data, err)
	}
	return ce.Code, ce.Text
}

// When the store reports records it dropped before the hub had them
// (Record.Missed), the room's members here are closed with 1013 and are
// not sent the record after the gap: a client resuming since its last
// position gets exactly what it missed, or cannot-recover. Members still
// catching up (JoinSince) are closed too; rooms elsewhere, and members
// joining after the gap, are not concerned; Stats counts gaps and closes.
func TestHistoryGapClosesMembers(t *testing.T) {
	rec := func(n uint64, missed bool) Record {
		return Record{Room: "r", Pos: Position{Epoch: "e", Offset: n}, Type: TextMessage,
			Data: fmt.Appendf(nil, `{"n":%d}`, n), Missed: missed}
	}
	s := &followedHistory{}
	h := newHistoryHub(t, s)
	hs := newHistoryServer(t, h, quiet())
	live := hs.dial(t, "r", Position{})
	elsewhere := hs.dial(t, "other", Position{})
	testkit.Eventually(t, "members joined", func() bool { return h.Count("r") == 1 && h.Count("other") == 1 })

	s.deliverNow(t, rec(1, false))
	if f, _ := readHistoryFrame(t, live); f.N != 1 {
		t.Fatalf("before the gap: got %+v, want n=1", f)
	}
	s.deliverNow(t, rec(3, true)) // record 2 was dropped unread
	if code, reason := readCloseOnly(t, live); code != websocket.CloseTryAgainLater || reason != gapCloseReason {
		t.Fatalf("after a gap: close %d %q, want 1013 %q", code, reason, gapCloseReason)
	}
	if s := h.Stats(); s.HistoryGaps != 1 || s.GapDisconnects != 1 {
		t.Fatalf("stats after a gap: %+v, want 1 gap, 1 member closed", s)
	}
	testkit.Eventually(t, "the closed member gone", func() bool { return h.Count("r") == 0 })

	// A member joining after the gap gets what follows.
	after := hs.dial(t, "r", Position{})
	testkit.Eventually(t, "a new member", func() bool { return h.Count("r") == 1 })
	s.deliverNow(t, rec(4, false))
	if f, _ := readHistoryFrame(t, after); f.N != 4 {
		t.Fatalf("after the gap: got %+v, want n=4", f)
	}

	// A gap while a member is joining since a position: it may fall
	// between what it reads and what it gets live. Closed as well, with
	// the live member.
	s.mu.Lock()
	s.duringRead = func() { s.deliverNow(t, rec(6, true)) }
	s.mu.Unlock()
	catching := hs.dial(t, "r", Position{Epoch: "e", Offset: 4})
	for _, ws := range []*websocket.Conn{catching, after} {
		if code, _ := readCloseOnly(t, ws); code != websocket.CloseTryAgainLater {
			t.Fatalf("a gap during a JoinSince: close %d, want 1013", code)
		}
	}
	if s := h.Stats(); s.HistoryGaps != 2 || s.GapDisconnects != 3 {
		t.Fatalf("stats after two gaps: %+v, want 2 gaps, 3 members closed", s)
	}
	// The other room's member is still there: its next frame is its
	// room's next record.
	other := rec(7, false)
	other.Room = "other"
	s.deliverNow(t, other)
	if f, _ := readHistoryFrame(t, elsewhere); f.N != 7 {
		t.Fatalf("a member of another room: got %+v, want n=7", f)
	}
}

// slowFollowHistory is a memory store whose Follow of one room waits
// until the test lets it go, as a store's round trip under load does.
type slowFollowHistory struct {
	HistoryStore
	slowRoom string
	entered  chan struct{}
	release  chan struct{}
}

func (s *slowFollowHistory) Follow(room string, deliver func(Record)) (func(), error) {
	if room == s.slowRoom {
		close(s.entered)
		<-s.release
	}
	return s.HistoryStore.Follow(room, deliver)
}

// TestFollowOfOneRoomDoesNotHoldUpOthers: while the store takes its time
// to start following one room, joins to other rooms go ahead (one lock
// for every room's store calls had a storm of joins to many rooms wait in
// line, and time out), and the slow room is followed once it may.
func TestFollowOfOneRoomDoesNotHoldUpOthers(t *testing.T) {
	store := &slowFollowHistory{HistoryStore: NewMemoryHistory(nil), slowRoom: "slow", entered: make(chan struct{}), release: make(chan struct{})}
	h := newHub(t, &HubOptions{History: store})
	slowJoined := make(chan error, 1)
	go func() { slowJoined <- h.Join("slow", fakeConn(t, 16)) }()
	<-store.entered

	fastJoined := make(chan error, 1)
	go func() { fastJoined <- h.Join("fast", fakeConn(t, 16)) }()
	select {
	case err := <-fastJoined:
		if err != nil {
			t.Fatalf("joining another room: %v", err)
		}
	case <-time.After(testkit.Wait):
		close(store.release)
		t.Fatalf("a join to another room waited for the slow room's Follow for %v", testkit.Wait)
	}
	if err := h.Publish("fast", TextMessage, []byte("x")); err != nil {
		t.Fatalf("publishing to the other room: %v", err)
	}
	close(store.release)
	if err := <-slowJoined; err != nil {
		t.Fatalf("joining the slow room: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

// spliceRecord is record n of room "r" in the splice tests.
func spliceRecord(n uint64) Record {
	return Record{Room: "r", Pos: Position{Epoch: "e", Offset: n}, Type: TextMessage, Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
}

// wantRecords2To7 checks that c's queue holds the frames of the splice
// tests' records 2 to 7, once each, in order.
func wantRecords2To7(t *testing.T, c *Conn) {
	t.Helper()
	frames := queued(c)
	if len(frames) != 6 {
		t.Fatalf("got %d frames, want 6: records 2 to 7 once each", len(frames))
	}
	// Prepared messages hide their payload: compare with fresh ones.
	for i, pm := range frames {
		_, frame := DefaultHistoryFrame(spliceRecord(uint64(i + 2)))
		if got := preparedPayload(t, pm); got != string(frame) {
			t.Errorf("frame %d: %s, want %s", i, got, frame)
		}
	}
}
