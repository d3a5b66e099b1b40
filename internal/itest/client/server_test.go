package client_test

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/client"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// testServer is the server of the browser tests: the test page, sockets.js
// and the sockets, on a 127.0.0.1 address that stays the same when the
// server is stopped and started again. Its hub and history outlive a
// restart, as a store of their own would.
type testServer struct {
	t    testing.TB
	addr string // host:port
	URL  string // http://addr
	hub  *sockets.Hub
	// readme is the hub of the README's room (/rooms/:room): a history of
	// readmeHistory messages and presence in memory.
	readme *sockets.Hub

	mu       sync.Mutex
	srv      *http.Server   // nil while stopped
	group    *sockets.Group // this run's sockets
	conns    map[string][]*sockets.Conn
	sinces   map[string][]string // the since= of each connection, by key
	received map[string][]string // the frames the key's clients sent, in order
}

// room is the hub room of /ws/room.
const room = "r"

// newTestServer starts a server; it stops at the end of the test.
func newTestServer(t testing.TB) *testServer {
	t.Helper()
	hub, err := sockets.NewHub(&sockets.HubOptions{
		History: sockets.NewMemoryHistory(&sockets.HistoryOptions{Size: 10000}),
	})
	if err != nil {
		t.Fatal(err)
	}
	readme, err := sockets.NewHub(&sockets.HubOptions{
		History:  sockets.NewMemoryHistory(&sockets.HistoryOptions{Size: readmeHistory}),
		Presence: sockets.NewMemoryPresence(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, addr: "127.0.0.1:0", hub: hub, readme: readme,
		conns: map[string][]*sockets.Conn{}, sinces: map[string][]string{}, received: map[string][]string{}}
	s.start()
	s.URL = "http://" + s.addr
	t.Cleanup(func() {
		s.stop()
		hub.Close()
		readme.Close()
	})
	return s
}

// start serves on the server's address, again after stop.
func (s *testServer) start() {
	s.t.Helper()
	var ln net.Listener
	testkit.EventuallyNoError(s.t, "listening on "+s.addr, func() (err error) {
		ln, err = net.Listen("tcp", s.addr)
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = ln.Addr().String()
	s.group = &sockets.Group{}
	s.srv = &http.Server{Handler: s.routes(s.group), ReadHeaderTimeout: testkit.Wait}
	go s.srv.Serve(ln)
}

// stop closes the listener, then the sockets with 1001, as a server that
// shuts down does, and waits for their handlers.
func (s *testServer) stop() {
	s.mu.Lock()
	srv, group := s.srv, s.group
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := group.Shutdown(ctx); err != nil {
		s.t.Errorf("shutting the sockets down: %v", err)
	}
}

// restart stops the server, leaves it down for down, and starts it again
// on the same address.
func (s *testServer) restart(down time.Duration) {
	s.t.Helper()
	s.stop()
	time.Sleep(down)
	s.start()
}

func (s *testServer) routes(group *sockets.Group) http.Handler {
	m := macaron.New()
	m.Get("/", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		testPage.Execute(w, map[string]string{"Version": client.Version(), "Integrity": client.Integrity()})
	})
	m.Get("/sockets.js", client.Handler())
	opts := &sockets.Options{Group: group, SkipLogging: true}
	m.Get("/ws/echo", sockets.Messages(opts), s.echo)
	m.Get("/ws/room", sockets.Messages(opts), s.room)
	m.Get("/readme", s.readmePage)
	m.Get("/rooms/:room", sockets.Messages(opts), s.readmeRoom)
	return m
}

// accept notes a connection of key; it returns how many key had before.
func (s *testServer) accept(key string, c *sockets.Conn, since string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[key] = append(s.conns[key], c)
	s.sinces[key] = append(s.sinces[key], since)
	return len(s.conns[key]) - 1
}

// echo keeps what its client sends, under the query's key. With close=CODE
// (and reason=TEXT) it closes the connection with that code after hold=MS
// milliseconds; with once=1, only the key's first connection.
func (s *testServer) echo(ctx *macaron.Context, c *sockets.Conn, receiver <-chan string, done <-chan bool) {
	q := ctx.Req.URL.Query()
	key := q.Get("key")
	n := s.accept(key, c, q.Get("since"))
	var closeAt <-chan time.Time
	code, _ := strconv.Atoi(q.Get("close"))
	if code != 0 && (q.Get("once") == "" || n == 0) {
		hold, _ := strconv.Atoi(q.Get("hold"))
		timer := time.NewTimer(time.Duration(hold) * time.Millisecond)
		defer timer.Stop()
		closeAt = timer.C
	}
	for {
		select {
		case msg := <-receiver:
			s.mu.Lock()
			s.received[key] = append(s.received[key], msg)
			s.mu.Unlock()
		case <-closeAt:
			c.Close(code, q.Get("reason"))
		case <-done:
			return
		}
	}
}

// room joins the hub's room since the query's since= and answers
// {"error":"reload"} when the history cannot be continued from there.
func (s *testServer) room(ctx *macaron.Context, c *sockets.Conn, sender chan<- string, receiver <-chan string, done <-chan bool) {
	q := ctx.Req.URL.Query()
	s.accept(q.Get("key"), c, q.Get("since"))
	since, err := sockets.ParsePosition(q.Get("since"))
	if err == nil {
		err = s.hub.JoinSince(ctx.Req.Context(), room, c, since)
	}
	if err != nil {
		if errors.Is(err, sockets.ErrCannotRecover) {
			sender <- `{"error":"reload"}`
		} else {
			c.Close(1011, err.Error())
		}
		return
	}
	for {
		select {
		case <-receiver:
		case <-done:
			return
		}
	}
}

// count returns how many connections key's clients made.
func (s *testServer) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns[key])
}

// got returns what key's clients sent, in order.
func (s *testServer) got(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.received[key]...)
}

// sinceOf returns the since= of each of key's connections.
func (s *testServer) sinceOf(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sinces[key]...)
}

// last returns key's latest connection.
func (s *testServer) last(key string) *sockets.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.conns[key]
	if len(cs) == 0 {
		s.t.Fatalf("no connection for %q", key)
	}
	return cs[len(cs)-1]
}

// send sends a text frame to key's latest connection.
func (s *testServer) send(key, text string) {
	s.t.Helper()
	if err := s.last(key).Send(sockets.TextMessage, []byte(text)); err != nil {
		s.t.Fatalf("sending to %q: %v", key, err)
	}
}

// publisher publishes {"n":1}, {"n":2}… to the room every interval until
// stop is called, which returns the last n published.
func (s *testServer) publisher(interval time.Duration) (stop func() int) {
	quit, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				done <- n
				return
			case <-tick.C:
				if err := s.hub.Publish(room, sockets.TextMessage, fmt.Appendf(nil, `{"n":%d}`, n+1)); err != nil {
					s.t.Errorf("publishing %d: %v", n+1, err)
					done <- n
					return
				}
				n++
			}
		}
	}()
	return func() int {
		close(quit)
		return <-done
	}
}

// testPage loads sockets.js as a page would, with its integrity: a wrong
// Integrity() would keep the script from running. track(name, url, opts)
// makes a client, T[name].c, and records its events in T[name].
var testPage = template.Must(template.New("").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>sockets.js</title>
<script src="/sockets.js?v={{.Version}}" integrity="{{.Integrity}}"></script>
<script>
window.T = {};
window.track = (name, url, opts) => {
  const r = { status: [], frames: [], resets: [], drops: [] };
  const c = (r.c = new Sockets(url, opts));
  c.addEventListener("status", (e) => r.status.push(Object.assign({ t: performance.now() }, e.detail)));
  c.addEventListener("reset", (e) => r.resets.push(e.detail));
  c.addEventListener("drop", (e) => r.drops.push(e.detail));
  c.on("*", (f) => r.frames.push(f));
  T[name] = r;
  return true;
};
// states lists a client's states, one word each.
window.states = (name) => T[name].status.map((s) => s.state).join(" ");
// opens counts the times a client opened.
window.opens = (name) => T[name].status.filter((s) => s.state === "open").length;
</script>
</head><body><p id="out"></p></body></html>
`))
