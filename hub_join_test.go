package sockets

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// joinFrame is a frame of joinServer's connections: a message (N), a
// replayed one (Replay), the keys present (Keys), a presence event
// (Key, Left) or an error.
type joinFrame struct {
	Pos    string   `json:"pos"`
	N      int      `json:"n"`
	Replay bool     `json:"replay"`
	Keys   []string `json:"keys"`
	Key    string   `json:"key"`
	Left   bool     `json:"left"`
	Error  string   `json:"error"`
}

// testPresenceFrames tells the keys as {"keys":[...]} and an event as
// {"key":K,"left":B}.
var testPresenceFrames = &PresenceFrames{
	Members: func(room string, keys []string) (int, []byte) {
		data, _ := json.Marshal(joinFrame{Keys: keys})
		return TextMessage, data
	},
	Event: func(room string, ev PresenceEvent) (int, []byte) {
		data, _ := json.Marshal(joinFrame{Key: ev.Key, Left: ev.Left})
		return TextMessage, data
	},
}

// replayFrame marks a replayed message with "replay":true.
func replayFrame(rec Record) (int, []byte) {
	var f joinFrame
	json.Unmarshal(rec.Data, &f)
	f.Pos, f.Replay = rec.Pos.String(), true
	data, _ := json.Marshal(f)
	return TextMessage, data
}

// newJoinServer serves /ws?room=R&key=K&last=N&since=POS&late=1: the
// connection claims K in R when K is set (after the join with late),
// joins with JoinWith (presence told when K
// is set), and publishes what it receives.
func newJoinServer(t *testing.T, h *Hub) *httptest.Server {
	t.Helper()
	m := macaron.New()
	m.Get("/ws", Messages(quiet()), func(ctx *macaron.Context, c *Conn, receiver <-chan string, sender chan<- string, done <-chan bool) {
		room, key := ctx.Query("room"), ctx.Query("key")
		opts := JoinOptions{Key: key, Presence: key != "", Replay: replayFrame}
		opts.Last, _ = strconv.Atoi(ctx.Query("last"))
		var err error
		if s := ctx.Query("since"); s != "" {
			opts.Since, err = ParsePosition(s)
		}
		late := ctx.Query("late") != "" // claim after the join, as a remote store's event may come
		if err == nil && key != "" && !late {
			_, err = h.Claim(context.Background(), room, c, key, nil)
		}
		if err == nil {
			err = h.JoinWith(context.Background(), room, c, opts)
		}
		if err == nil && late {
			_, err = h.Claim(context.Background(), room, c, key, nil)
		}
		if err != nil {
			sender <- `{"error":` + jsonString(err.Error()) + `}`
			<-done
			return
		}
		for {
			select {
			case m := <-receiver:
				h.Publish(room, TextMessage, []byte(m))
			case <-done:
				return
			}
		}
	})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func dialJoin(t *testing.T, srv *httptest.Server, q url.Values) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?" + q.Encode()
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func readJoinFrame(t *testing.T, ws *websocket.Conn) joinFrame {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f joinFrame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	if f.Error != "" {
		t.Fatalf("error frame: %s", f.Error)
	}
	return f
}

func newJoinHub(t *testing.T) *Hub {
	t.Helper()
	h, err := NewHub(&HubOptions{
		History:        NewMemoryHistory(&HistoryOptions{Size: 100}),
		Presence:       NewMemoryPresence(nil),
		PresenceFrames: testPresenceFrames,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func publishN(t *testing.T, h *Hub, room string, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := h.Publish(room, TextMessage, []byte(`{"n":`+strconv.Itoa(n)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
}

// A fresh join with Last gets the room's last messages as Replay builds
// them, then the keys present, then the live messages as HistoryFrame
// builds them, with no gap and no duplicate.
func TestJoinWithLastReplaysThenPresenceThenLive(t *testing.T) {
	h := newJoinHub(t)
	srv := newJoinServer(t, h)
	publishN(t, h, "r", 1, 5)

	ws := dialJoin(t, srv, url.Values{"room": {"r"}, "key": {"ann"}, "last": {"3"}})
	for want := 3; want <= 5; want++ {
		if f := readJoinFrame(t, ws); f.N != want || !f.Replay || f.Pos == "" {
			t.Fatalf("got %+v, want the replayed message %d with a position", f, want)
		}
	}
	if f := readJoinFrame(t, ws); strings.Join(f.Keys, ",") != "ann" {
		t.Fatalf("got %+v, want the keys [ann]", f)
	}
	publishN(t, h, "r", 6, 6)
	if f := readJoinFrame(t, ws); f.N != 6 || f.Replay || f.Pos == "" {
		t.Fatalf("got %+v, want the live message 6 with a position", f)
	}
}

// A join since a position gets exactly what was missed (as HistoryFrame
// builds it, not Replay), then the keys, then live messages.
func TestJoinWithSinceResumesThenPresence(t *testing.T) {
	h := newJoinHub(t)
	srv := newJoinServer(t, h)
	publishN(t, h, "r", 1, 2)
	recs, err := h.history.Read(context.Background(), "r", Position{}, 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("read: %v, %d records", err, len(recs))
	}
	publishN(t, h, "r", 3, 4)

	ws := dialJoin(t, srv, url.Values{"room": {"r"}, "key": {"bob"}, "last": {"50"}, "since": {recs[0].Pos.String()}})
	for want := 2; want <= 4; want++ {
		if f := readJoinFrame(t, ws); f.N != want || f.Replay {
			t.Fatalf("got %+v, want the missed message %d, not replayed", f, want)
		}
	}
	if f := readJoinFrame(t, ws); strings.Join(f.Keys, ",") != "bob" {
		t.Fatalf("got %+v, want the keys [bob]", f)
	}

	// A position from another epoch cannot be continued.
	ws2 := dialJoin(t, srv, url.Values{"room": {"r"}, "since": {"otherepoch:1"}})
	ws2.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := ws2.ReadMessage()
	if err != nil || !strings.Contains(string(data), ErrCannotRecover.Error()) {
		t.Fatalf("got %q, %v; want an error saying %q", data, err, ErrCannotRecover)
	}
}

// Every connection told the presence learns the keys there as it joins,
// then each join and leave but its own, once each, including claims made
// through the store by another instance.
func TestJoinWithPresenceTellsJoinsAndLeaves(t *testing.T) {
	store := NewMemoryPresence(nil)
	h, err := NewHub(&HubOptions{Presence: store, PresenceFrames: testPresenceFrames})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := newJoinServer(t, h)

	ann := dialJoin(t, srv, url.Values{"room": {"r"}, "key": {"ann"}})
	if f := readJoinFrame(t, ann); strings.Join(f.Keys, ",") != "ann" {
		t.Fatalf("ann got %+v, want the keys [ann]", f)
	}
	bob := dialJoin(t, srv, url.Values{"room": {"r"}, "key": {"bob"}})
	if f := readJoinFrame(t, bob); strings.Join(f.Keys, ",") != "ann,bob" {
		t.Fatalf("bob got %+v, want the keys [ann bob]", f)
	}
	if f := readJoinFrame(t, ann); f.Key != "bob" || f.Left {
		t.Fatalf("ann got %+v, want bob's join", f)
	}

	// Another instance's member, through the store.
	cl, err := store.Claim(context.Background(), "r", "cat", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*websocket.Conn{ann, bob} {
		if f := readJoinFrame(t, ws); f.Key != "cat" || f.Left {
			t.Fatalf("got %+v, want cat's join", f)
		}
	}
	cl.Release(context.Background())
	for _, ws := range []*websocket.Conn{ann, bob} {
		if f := readJoinFrame(t, ws); f.Key != "cat" || !f.Left {
			t.Fatalf("got %+v, want cat's leave", f)
		}
	}

	bob.Close()
	if f := readJoinFrame(t, ann); f.Key != "bob" || !f.Left {
		t.Fatalf("ann got %+v, want bob's leave", f)
	}

	// dan's claim comes after dan is told: ann hears of it, dan does not.
	dan := dialJoin(t, srv, url.Values{"room": {"r"}, "key": {"dan"}, "late": {"1"}})
	if f := readJoinFrame(t, dan); strings.Join(f.Keys, ",") != "ann,dan" {
		t.Fatalf("dan got %+v, want the keys [ann dan]", f)
	}
	if f := readJoinFrame(t, ann); f.Key != "dan" || f.Left {
		t.Fatalf("ann got %+v, want dan's join", f)
	}
	// Nothing about ann herself came, nor anything twice: the next frame
	// is the message published now.
	publishN(t, h, "r", 1, 1)
	for _, ws := range []*websocket.Conn{ann, dan} {
		if f := readJoinFrame(t, ws); f.N != 1 {
			t.Fatalf("got %+v, want the message 1 next", f)
		}
	}
}

// Connections joining and closing at once leave no presence watch behind:
// the room's watch ends with its last connection told, and a hub whose
// connections all closed keeps none.
func TestJoinWithPresenceEndsWatches(t *testing.T) {
	h := newJoinHub(t)
	srv := newJoinServer(t, h)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := "r" + strconv.Itoa(i%3)
			u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?room=" + room + "&key=k" + strconv.Itoa(i)
			ws, _, err := websocket.DefaultDialer.Dial(u, nil)
			if err != nil {
				t.Error(err)
				return
			}
			ws.SetReadDeadline(time.Now().Add(waitTimeout))
			ws.ReadMessage() // the keys: it is told
			ws.Close()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(waitTimeout)
	for {
		h.presMu.Lock()
		rooms, conns := len(h.presRooms), len(h.presConns)
		h.presMu.Unlock()
		if rooms == 0 && conns == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d presence watches and %d connections told remain after every connection closed", rooms, conns)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Leave stops the presence frames of that room at once.
func TestLeaveStopsPresenceFrames(t *testing.T) {
	h := newJoinHub(t)
	joined := make(chan *Conn, 1)
	m := macaron.New()
	m.Get("/ws", Messages(quiet()), func(c *Conn, done <-chan bool) {
		if err := h.JoinWith(context.Background(), "r", c, JoinOptions{Presence: true, Key: "ann"}); err != nil {
			t.Error(err)
		}
		joined <- c
		<-done
	})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	dialJoin(t, srv, nil)
	c := recv(t, joined, "the join")
	h.Leave("r", c)
	h.presMu.Lock()
	rooms := len(h.presRooms)
	h.presMu.Unlock()
	if rooms != 0 {
		t.Fatalf("%d presence watches after the only member left, want 0", rooms)
	}
}

// JoinWith refuses what the hub cannot do, and joins nothing.
func TestJoinWithNeedsItsStores(t *testing.T) {
	plain, err := NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, opts := range []JoinOptions{{Last: 5}, {Since: Position{Epoch: "e", Offset: 1}}, {Presence: true}} {
		if err := plain.JoinWith(context.Background(), "r", nil, opts); err == nil {
			t.Errorf("JoinWith(%+v) on a hub without stores: no error", opts)
		}
	}
	if _, err := NewHub(&HubOptions{PresenceFrames: &PresenceFrames{}}); err == nil {
		t.Error("PresenceFrames without Members and Event: no error")
	}
	if err := newJoinHub(t).JoinWith(context.Background(), "", nil, JoinOptions{Presence: true}); err == nil || !strings.Contains(err.Error(), "room is empty") {
		t.Errorf("an empty room: got %v, want the room is empty", err)
	}
}

// doubledPresence reports every event twice, as a store may report a
// renewed claim or a watch that starts over.
type doubledPresence struct{ PresenceStore }

func (d doubledPresence) Watch(room string, f func(PresenceEvent)) (func(), error) {
	return d.PresenceStore.Watch(room, func(ev PresenceEvent) { f(ev); f(ev) })
}

// A join of a key already there, or a leave of one gone, is not told
// again.
func TestPresenceFramesTellEachChangeOnce(t *testing.T) {
	store := doubledPresence{NewMemoryPresence(nil)}
	h, err := NewHub(&HubOptions{Presence: store, PresenceFrames: testPresenceFrames})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := newJoinServer(t, h)
	ann := dialJoin(t, srv, url.Values{"room": {"r"}, "key": {"ann"}})
	readJoinFrame(t, ann) // the keys
	cl, err := store.Claim(context.Background(), "r", "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	cl.Release(context.Background())
	publishN(t, h, "r", 1, 1)
	for _, want := range []joinFrame{{Key: "bob"}, {Key: "bob", Left: true}, {N: 1}} {
		if f := readJoinFrame(t, ann); f.Key != want.Key || f.Left != want.Left || f.N != want.N {
			t.Fatalf("got %+v, want %+v", f, want)
		}
	}
}
