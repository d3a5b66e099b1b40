package natsjs_test

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// presenceFrame is what presenceInstance's connections get about who is
// there.
type presenceFrame struct {
	Keys []string `json:"keys"`
	Key  string   `json:"key"`
	Left bool     `json:"left"`
}

// newPresenceInstance serves /ws/:room/:key on a hub whose presence is in
// JetStream: the key is claimed first, then the connection joined with
// presence frames.
func newPresenceInstance(t *testing.T, url string) *httptest.Server {
	t.Helper()
	store := newPresence(t, dial(t, url), &natsjs.PresenceOptions{PresenceOptions: sockets.PresenceOptions{Lease: 3 * time.Second}})
	frame := func(f presenceFrame) (int, []byte) {
		data, _ := json.Marshal(f)
		return sockets.TextMessage, data
	}
	hub, err := sockets.NewHub(&sockets.HubOptions{Presence: store, PresenceFrames: &sockets.PresenceFrames{
		Members: func(_ string, keys []string) (int, []byte) { return frame(presenceFrame{Keys: keys}) },
		Event: func(_ string, ev sockets.PresenceEvent) (int, []byte) {
			return frame(presenceFrame{Key: ev.Key, Left: ev.Left})
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	keyOf := func(ctx *macaron.Context) (string, string, []byte, bool) {
		return ctx.Params(":room"), ctx.Params(":key"), nil, true
	}
	m := macaron.New()
	m.Get("/ws/:room/:key", hub.ClaimFirst(keyOf), sockets.Messages(&sockets.Options{Logger: log.New(io.Discard, "", 0), Group: &sockets.Group{}}),
		func(ctx *macaron.Context, c *sockets.Conn, done <-chan bool) {
			if err := hub.JoinWith(ctxT(t), ctx.Params(":room"), c, sockets.JoinOptions{Presence: true, Key: ctx.Params(":key")}); err != nil {
				t.Errorf("JoinWith: %v", err)
				return
			}
			<-done
		})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func dialPresence(t *testing.T, srv *httptest.Server, room, key string) *websocket.Conn {
	t.Helper()
	ws, _, _, err := testkit.Dial("ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/" + room + "/" + key)
	if err != nil {
		t.Fatalf("%s joining %s: %v", key, room, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func nextPresence(t *testing.T, ws *websocket.Conn) presenceFrame {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	var f presenceFrame
	if err := ws.ReadJSON(&f); err != nil {
		t.Fatalf("read: %v", err)
	}
	return f
}

// TestPresenceFramesAcrossInstances: two hubs on one JetStream bucket tell
// their members the same keys and the same comings and goings, each once,
// with names claimed first (ClaimFirst). (That a member is not told of its
// own join when the store's event comes after it was told is the unit
// test's case: the timing here does not force it.)
func TestPresenceFramesAcrossInstances(t *testing.T) {
	s := startJS(t)
	a, b := newPresenceInstance(t, s.ClientURL()), newPresenceInstance(t, s.ClientURL())
	room := uniqueName("room")

	ann := dialPresence(t, a, room, "ann")
	if f := nextPresence(t, ann); strings.Join(f.Keys, ",") != "ann" {
		t.Fatalf("ann got %+v, want the keys [ann]", f)
	}
	bob := dialPresence(t, b, room, "bob")
	if f := nextPresence(t, bob); strings.Join(f.Keys, ",") != "ann,bob" {
		t.Fatalf("bob got %+v, want the keys [ann bob]", f)
	}
	if f := nextPresence(t, ann); f.Key != "bob" || f.Left {
		t.Fatalf("ann got %+v, want bob's join", f)
	}
	cat := dialPresence(t, a, room, "cat")
	if f := nextPresence(t, cat); strings.Join(f.Keys, ",") != "ann,bob,cat" {
		t.Fatalf("cat got %+v, want the keys [ann bob cat]", f)
	}
	for _, ws := range []*websocket.Conn{ann, bob} {
		if f := nextPresence(t, ws); f.Key != "cat" || f.Left {
			t.Fatalf("got %+v, want cat's join", f)
		}
	}
	bob.Close()
	for _, ws := range []*websocket.Conn{ann, cat} {
		if f := nextPresence(t, ws); f.Key != "bob" || !f.Left {
			t.Fatalf("got %+v, want bob's leave", f)
		}
	}
	// Nothing else is queued for cat: not its own join, nothing twice.
	cat.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var extra presenceFrame
	if err := cat.ReadJSON(&extra); err == nil {
		t.Fatalf("cat got %+v more", extra)
	}
}
