package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// broadcaster is a minimal /broadcast server that sends every message it
// reads to every client as a frame of type typ.
func broadcaster(t *testing.T, typ int) *httptest.Server {
	var mu sync.Mutex // guards conns and every write
	conns := map[*websocket.Conn]bool{}
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/broadcast" {
			http.NotFound(w, r)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			mu.Lock()
			for o := range conns {
				o.SetWriteDeadline(time.Now().Add(5 * time.Second))
				o.WriteMessage(typ, msg)
			}
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFanoutFrameType: a server that broadcasts binary frames instead of
// text frames fails the run, with non_text counting them; a text server
// passes with non_text 0.
func TestFanoutFrameType(t *testing.T) {
	const subs, msgs = 5, 20
	for _, tc := range []struct {
		name    string
		typ     int
		ok      bool
		nonText float64
	}{
		{"text", websocket.TextMessage, true, 0},
		// Every subscriber's copy and the publisher's own, at least.
		{"binary", websocket.BinaryMessage, false, (subs + 1) * msgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := broadcaster(t, tc.typ)
			res, err := Fanout(context.Background(), FanoutConfig{
				Target: Target{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), DialConcurrency: 4},
				Subs:   subs, Msgs: msgs, Window: 4, Timeout: 10 * time.Second, Stall: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tc.ok {
				t.Errorf("ok = %v, want %v: %s", res.OK, tc.ok, res.Human())
			}
			// Warm-up frames count too: at least one per subscriber.
			if got, ok := res.Get("non_text"); !ok || got < tc.nonText || (tc.nonText == 0 && got != 0) {
				t.Errorf("non_text = %v (present %v), want %v: %s", got, ok, tc.nonText, res.Human())
			}
			for _, m := range []string{"lost", "dup", "ooo", "dropped_subs"} {
				if v, _ := res.Get(m); v != 0 {
					t.Errorf("%s = %v: %s", m, v, res.Human())
				}
			}
		})
	}
}
