package sockets

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// failingPresence is a presence store whose claims fail.
type failingPresence struct{ PresenceStore }

func (failingPresence) Claim(context.Context, string, string, []byte) (Claim, error) {
	return nil, errors.New("store down")
}

// newClaimServer serves /ws/:room/:key, claimed first; the handler gets the
// Claim and holds the connection until done.
func newClaimServer(t *testing.T, h *Hub) (*httptest.Server, chan Claim) {
	t.Helper()
	claims := make(chan Claim, 10)
	m := macaron.New()
	keyOf := func(ctx *macaron.Context) (string, string, []byte, bool) {
		if ctx.Params(":key") == "refused" {
			ctx.Resp.WriteHeader(http.StatusTeapot)
			return "", "", nil, false
		}
		return ctx.Params(":room"), ctx.Params(":key"), nil, true
	}
	m.Get("/ws/:room/:key", h.ClaimFirst(keyOf), Messages(quiet()), func(cl Claim, done <-chan bool) {
		claims <- cl
		<-done
	})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv, claims
}

func dialClaim(srv *httptest.Server, room, key string) (*websocket.Conn, int, string) {
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/"+room+"/"+key, nil)
	if err != nil {
		if resp == nil {
			return nil, 0, err.Error()
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, resp.StatusCode, string(body)
	}
	return ws, http.StatusSwitchingProtocols, ""
}

// A key is held by one connection at a time: the second gets 409 while
// the first is open, and the key is free again once it closed.
func TestClaimFirstHoldsTheKeyForTheConnection(t *testing.T) {
	store := NewMemoryPresence(nil)
	h, err := NewHub(&HubOptions{Presence: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv, claims := newClaimServer(t, h)

	ann, status, body := dialClaim(srv, "r", "ann")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("first ann: %d %q", status, body)
	}
	if cl := recv(t, claims, "the claim"); cl == nil {
		t.Fatal("the handler got no Claim")
	}
	if _, status, body := dialClaim(srv, "r", "ann"); status != http.StatusConflict || !strings.Contains(body, "already in use") {
		t.Fatalf("second ann: %d %q, want 409", status, body)
	}
	if _, status, _ := dialClaim(srv, "other", "ann"); status != http.StatusSwitchingProtocols {
		t.Fatalf("ann in another room: %d, want an upgrade", status)
	}
	ann.Close()
	deadline := time.Now().Add(waitTimeout)
	for {
		m, _ := store.Members(context.Background(), "r")
		if len(m) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ann still holds the key after her connection closed: %v", m)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, status, body := dialClaim(srv, "r", "ann"); status != http.StatusSwitchingProtocols {
		t.Fatalf("ann again: %d %q", status, body)
	}
}

// A bad key gets 400, a failing store 503 with Retry-After, and keyOf may
// answer by itself; none of them upgrades or claims.
func TestClaimFirstRefusals(t *testing.T) {
	store := NewMemoryPresence(nil)
	h, err := NewHub(&HubOptions{Presence: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv, _ := newClaimServer(t, h)
	if _, status, _ := dialClaim(srv, "r", "refused"); status != http.StatusTeapot {
		t.Errorf("keyOf's own answer: %d, want 418", status)
	}
	if _, status, body := dialClaim(srv, "r", "a%01b"); status != http.StatusBadRequest || !strings.Contains(body, "control character") {
		t.Errorf("a key with a control character: %d %q, want 400", status, body)
	}
	if m, _ := store.Members(context.Background(), "r"); len(m) != 0 {
		t.Errorf("refused requests left members: %v", m)
	}

	down, err := NewHub(&HubOptions{Presence: failingPresence{store}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { down.Close() })
	srv2, _ := newClaimServer(t, down)
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv2.URL, "http")+"/ws/r/ann", nil)
	if err == nil {
		ws.Close()
		t.Fatal("a failing store: upgraded")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a failing store: %v, want 503 with Retry-After", resp)
	}
	if down.Stats().StoreErrors != 1 {
		t.Errorf("StoreErrors = %d, want 1", down.Stats().StoreErrors)
	}
}

// countingPresence counts the calls to Rooms.
type countingPresence struct {
	PresenceStore
	rooms atomic.Int32
}

func (c *countingPresence) Rooms(ctx context.Context) ([]RoomCount, error) {
	c.rooms.Add(1)
	return c.PresenceStore.Rooms(ctx)
}

// PresenceRooms lists the busiest rooms first, then by name, and asks the
// store at most once per RoomsMaxAge; with a negative one, every time.
func TestPresenceRoomsSortedAndKept(t *testing.T) {
	store := &countingPresence{PresenceStore: NewMemoryPresence(nil)}
	for room, keys := range map[string]int{"b": 1, "a": 1, "busy": 3} {
		for i := range keys {
			if _, err := store.Claim(context.Background(), room, strconv.Itoa(i), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept, err := NewHub(&HubOptions{Presence: store, RoomsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	want := []RoomCount{{"busy", 3}, {"a", 1}, {"b", 1}}
	for range 3 {
		got, err := kept.PresenceRooms(context.Background())
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, %v; want %v", got, err, want)
		}
		got[0].Room = "changed by the caller"
	}
	if n := store.rooms.Load(); n != 1 {
		t.Fatalf("the store was asked %d times within RoomsMaxAge, want once", n)
	}
	fresh, err := NewHub(&HubOptions{Presence: store, RoomsMaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	fresh.PresenceRooms(context.Background())
	fresh.PresenceRooms(context.Background())
	if n := store.rooms.Load(); n != 3 {
		t.Fatalf("the store was asked %d times in all, want 3", n)
	}
}
