package natsjs_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"gopkg.in/macaron.v1"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// instance is one server of a room spread over several, its hub's history
// in JetStream: /ws?room=R&since=POS joins R since POS and publishes what
// its client sends.
type instance struct {
	*httptest.Server
	hub   *sockets.Hub
	group *sockets.Group
	store *natsjs.History
	nc    *nats.Conn
}

// stop ends the instance as a server shutting down does: its connections
// closed with 1001, then its HTTP server, hub, store and NATS connection.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if err := in.group.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("shutting the instance's connections down: %v", err)
	}
	in.Close()
	in.hub.Close()
	in.store.Close()
	in.nc.Close()
}

func newInstance(t *testing.T, url string, history *natsjs.HistoryOptions) *instance {
	t.Helper()
	return newInstanceWith(t, url, history, nil)
}

// newInstanceWith is newInstance, its hub making frames with frame (nil:
// the default).
func newInstanceWith(t *testing.T, url string, history *natsjs.HistoryOptions, frame func(sockets.Record) (int, []byte)) *instance {
	t.Helper()
	nc := dial(t, url)
	store := newHistory(t, nc, history)
	hub, err := sockets.NewHub(&sockets.HubOptions{History: store, HistoryFrame: frame})
	if err != nil {
		t.Fatal(err)
	}
	group := &sockets.Group{}
	opts := &sockets.Options{Logger: log.New(io.Discard, "", 0), HubQueueSize: 10000, Group: group}
	m := macaron.New()
	m.Get("/ws", sockets.Messages(opts), func(ctx *macaron.Context, c *sockets.Conn, receiver <-chan string, sender chan<- string, done <-chan bool) {
		room := ctx.Query("room")
		since, err := sockets.ParsePosition(ctx.Query("since"))
		if err == nil {
			err = hub.JoinSince(ctx.Req.Context(), room, c, since)
		}
		if err != nil {
			b, _ := json.Marshal(err.Error())
			sender <- `{"error":` + string(b) + `}`
			<-done
			return
		}
		for {
			select {
			case m := <-receiver:
				if err := hub.Publish(room, sockets.TextMessage, []byte(m)); err != nil {
					t.Errorf("publish: %v", err)
				}
			case <-done:
				return
			}
		}
	})
	in := &instance{Server: httptest.NewServer(m), hub: hub, group: group, store: store, nc: nc}
	t.Cleanup(func() {
		in.Close()
		hub.Close()
	})
	return in
}

func (in *instance) join(t *testing.T, room string, since sockets.Position) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(in.URL, "http") + "/ws?room=" + room
	if !since.IsZero() {
		u += "&since=" + since.String()
	}
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

type frame struct {
	Pos   string `json:"pos"`
	N     int    `json:"n"`
	Error string `json:"error"`
}

func next(t *testing.T, ws *websocket.Conn) (frame, sockets.Position) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	if f.Error != "" {
		t.Fatalf("server: %s", f.Error)
	}
	pos, err := sockets.ParsePosition(f.Pos)
	if err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return f, pos
}

// Two instances on one JetStream: what both publish at the same moment
// reaches every member in one order, the stream's; a client that leaves
// instance a and comes back on instance b since the last position it saw
// gets exactly what it missed, then live messages, while messages keep
// coming; a newcomer gets the last Size messages.
func TestHubsOnJetStream(t *testing.T) {
	srv := startJS(t)
	url := srv.ClientURL()
	opts := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 5000}, Stream: uniqueName("HUB"), SubjectPrefix: uniqueName("hub")}
	a, b := newInstance(t, url, opts), newInstance(t, url, opts)
	wa, wb := a.join(t, "r", sockets.Position{}), b.join(t, "r", sockets.Position{})
	traveller := a.join(t, "r", sockets.Position{})
	pa, pb := a.join(t, "r", sockets.Position{}), b.join(t, "r", sockets.Position{})
	testkit.Eventually(t, "every member joined", func() bool { return a.hub.Count("r") == 3 && b.hub.Count("r") == 2 })

	const each = 400
	var wg sync.WaitGroup
	for i, p := range []*websocket.Conn{pa, pb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < each; n++ {
				if err := p.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"n":%d}`, i*each+n))); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		}()
	}

	// The traveller reads 100 on a, leaves, and joins b since the last.
	var seen []sockets.Position
	var last sockets.Position
	for len(seen) < 100 {
		_, pos := next(t, traveller)
		seen = append(seen, pos)
		last = pos
	}
	traveller.Close()
	back := b.join(t, "r", last)
	for len(seen) < 2*each {
		_, pos := next(t, back)
		seen = append(seen, pos)
	}
	wg.Wait()

	var order []sockets.Position
	for i := 0; i < 2*each; i++ {
		fa, posA := next(t, wa)
		fb, posB := next(t, wb)
		if posA != posB || fa.N != fb.N {
			t.Fatalf("message %d: a got n=%d at %v, b n=%d at %v", i, fa.N, posA, fb.N, posB)
		}
		order = append(order, posA)
	}
	for i := range order {
		if seen[i] != order[i] {
			t.Fatalf("traveller's message %d at %v, want %v: a gap or a duplicate around its move", i, seen[i], order[i])
		}
	}

	// A newcomer gets the history: the stream's last 5000, here all 800,
	// in the same order.
	late := b.join(t, "r", sockets.Position{})
	for i := range order {
		if _, pos := next(t, late); pos != order[i] {
			t.Fatalf("history %d at %v, want %v", i, pos, order[i])
		}
	}
}

// A hub whose follower falls further behind than the room keeps (its
// frame builder held while another instance appends 1200 messages to a
// room of 3) closes its member with 1013 after the last message it had in
// order: the member got no message past the gap, and resuming since the
// last one it got is refused as it should be (those after it are gone),
// never a silent gap.
func TestHubClosesMembersOnGap(t *testing.T) {
	srv := startJS(t)
	url := srv.ClientURL()
	opts := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 3}, Stream: uniqueName("GAP"), SubjectPrefix: uniqueName("gap")}
	release := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	a := newInstanceWith(t, url, opts, func(rec sockets.Record) (int, []byte) {
		<-release
		return sockets.DefaultHistoryFrame(rec)
	})
	t.Cleanup(letGo) // first: the hub's Close waits for its follower
	member := a.join(t, "r", sockets.Position{})
	testkit.Eventually(t, "the member joined", func() bool { return a.hub.Count("r") == 1 })

	other := newHistory(t, dial(t, url), opts)
	var appended []sockets.Position
	for i := range 1200 {
		p, err := other.Append(ctxT(t), "r", sockets.TextMessage, fmt.Appendf(nil, `{"n":%d}`, i), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		appended = append(appended, p)
	}
	letGo()

	// What the member gets is a run of what was appended, without a hole,
	// then the close.
	var got []sockets.Position
	member.SetReadDeadline(time.Now().Add(testkit.Wait))
	for {
		_, data, err := member.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
				t.Fatalf("after %d messages: %v, want a 1013 close", len(got), err)
			}
			break
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		pos, err := sockets.ParsePosition(f.Pos)
		if err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		got = append(got, pos)
	}
	if len(got) >= len(appended) {
		t.Fatalf("the member got all %d messages: nothing was dropped, the test did not hold the follower back", len(got))
	}
	if len(got) > 0 {
		first := slices.Index(appended, got[0])
		if first < 0 || !slices.Equal(got, appended[first:first+len(got)]) {
			t.Fatalf("the member got %d messages that are not a run of those appended", len(got))
		}
		// Resuming since the last: refused, the messages after it gone.
		// (A gap the follower tells while the client joins closes it
		// again, with 1013: it tries again, as a client does.)
		since := got[len(got)-1]
		testkit.EventuallyNoError(t, "resuming since the last message got", func() error {
			back := a.join(t, "r", since)
			defer back.Close()
			back.SetReadDeadline(time.Now().Add(testkit.Wait))
			_, data, err := back.ReadMessage()
			switch {
			case websocket.IsCloseError(err, websocket.CloseTryAgainLater):
				return err
			case err != nil || !strings.Contains(string(data), "cannot recover"):
				t.Fatalf("resuming since %v: %q, %v; want cannot recover", since, data, err)
			}
			return nil
		})
	}
	if s := a.hub.Stats(); s.HistoryGaps == 0 || s.GapDisconnects == 0 {
		t.Fatalf("stats: %+v, want a gap and the member closed", s)
	}
	t.Logf("the member got %d of %d messages, then 1013", len(got), len(appended))
}
