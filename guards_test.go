package sockets

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// A client sending faster than MessageRate: with DropOverRate the handler
// gets at most the burst plus the rate over the time taken, the rest is
// dropped and reported; with CloseOverRate the connection is closed with
// 1008 once the burst is spent.
func TestMessageRate(t *testing.T) {
	t.Run("drop", func(t *testing.T) {
		opts := quiet()
		opts.MessageRate, opts.MessageBurst = 50, 10
		opts.Group = &Group{}
		var delivered, limited atomic.Int64
		ts := newTestServer(t, Messages(opts), func(receiver <-chan string, done <-chan bool, errs <-chan error) {
			for {
				select {
				case <-receiver:
					delivered.Add(1)
				case err := <-errs:
					if errors.Is(err, ErrRateLimited) {
						limited.Add(1)
					}
				case <-done:
					return
				}
			}
		})
		ws := ts.dial(t, nil)
		start := time.Now()
		const sent = 300
		for i := 0; i < sent; i++ {
			ws.WriteMessage(websocket.TextMessage, []byte("x"))
		}
		// An echo of the last message would come after every one: wait
		// until the group has read them all.
		testkit.Eventually(t, "every message read", func() bool { return opts.Group.Stats().MessagesIn == sent })
		elapsed := time.Since(start)
		// The handler takes what passed (buffered in the receiver) and
		// the errors at its own pace.
		testkit.Eventually(t, "the handler to take every message that passed", func() bool {
			return delivered.Load() == int64(sent-opts.Group.Stats().RateLimited) && limited.Load() > 0
		})
		got := delivered.Load()
		max := int64(10 + 50*elapsed.Seconds() + 1)
		if got < 10 || got > max {
			t.Errorf("delivered %d of %d in %v, want between the burst (10) and %d", got, sent, elapsed, max)
		}
		if s := opts.Group.Stats(); s.RateLimited != uint64(sent-got) {
			t.Errorf("rate limited %d, want %d", s.RateLimited, sent-got)
		}
		if limited.Load() == 0 {
			t.Error("no ErrRateLimited on errs")
		}
		ws.Close()
		ts.waitFinished(t, 1)
	})
	t.Run("close", func(t *testing.T) {
		opts := quiet()
		opts.MessageRate, opts.MessageBurst, opts.RateLimitPolicy = 50, 10, CloseOverRate
		opts.Group = &Group{}
		ends := make(chan *CloseError, 1)
		ts := newTestServer(t, Messages(opts), func(c *Conn, receiver <-chan string, done <-chan bool) {
			for {
				select {
				case <-receiver:
				case <-done:
					ends <- c.CloseError()
					return
				}
			}
		})
		ws := ts.dial(t, nil)
		for i := 0; i < 100; i++ {
			if ws.WriteMessage(websocket.TextMessage, []byte("x")) != nil {
				break
			}
		}
		if code := readClose(t, ws); code != websocket.ClosePolicyViolation {
			t.Errorf("close %d, want 1008", code)
		}
		if st := recv(t, ends, "the end"); !errors.Is(st, ErrRateLimited) {
			t.Errorf("status %v, want ErrRateLimited", st)
		}
		ts.waitFinished(t, 1)
		if s := opts.Group.Stats(); s.RateLimited == 0 || s.ClosesSent[websocket.ClosePolicyViolation] != 1 {
			t.Errorf("stats %+v, want the message over the rate counted and one 1008 sent", s)
		}
	})
}

// The caps answer 503 with Retry-After before the upgrade, and a slot
// frees when a connection ends.
func TestConnectionCaps(t *testing.T) {
	opts := quiet()
	opts.Group = &Group{}
	opts.MaxConnections = 3
	opts.MaxConnectionsPerClient = 2
	opts.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Client") }
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) { <-done })
	from := func(client string) http.Header { return http.Header{"X-Client": {client}} }
	a1, a2 := ts.dial(t, from("a")), ts.dial(t, from("a"))
	expect503 := func(client, why string) {
		t.Helper()
		_, resp, err := ts.tryDial(from(client))
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("%s: got %v (status %d), want 503 with Retry-After", why, err, status)
		}
	}
	expect503("a", "a third connection from one client")
	ts.dial(t, from("b"))
	expect503("c", "a fourth connection in all")
	a1.Close()
	ts.waitFinished(t, 1)
	testkit.Eventually(t, "a free slot", func() bool { return opts.Group.Len() == 2 })
	// The slot freed is the group's and the client's: a's second
	// connection may come in, and then a's third is refused again.
	a3 := ts.dial(t, from("a"))
	expect503("a", "a third connection from one client, after one ended")
	expect503("c", "a fourth connection in all, after one ended")
	a2.Close()
	ts.waitFinished(t, 1)
	testkit.Eventually(t, "a free slot", func() bool { return opts.Group.Len() == 2 })
	ts.dial(t, from("c"))
	// The client has its 101 a moment before the server counts it.
	testkit.Eventually(t, "5 upgrades counted", func() bool { return opts.Group.Stats().Accepted == 5 })
	s := opts.Group.Stats()
	if s.Refused["capacity"] != 4 || s.Accepted != 5 {
		t.Errorf("stats %+v, want 4 refused for capacity and 5 accepted", s)
	}
	_ = a3
}

// Without Options.ClientAddr, a client is the address of the request
// (its host, whatever the port): two connections from 127.0.0.1 are one
// client's, and a third is refused with 503.
func TestConnectionCapPerClientAddress(t *testing.T) {
	opts := quiet()
	opts.Group = &Group{}
	opts.MaxConnectionsPerClient = 2
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) { <-done })
	ts.dial(t, nil)
	ts.dial(t, nil) // another port, the same client
	_, resp, err := ts.tryDial(nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a third connection from 127.0.0.1: got %v, want 503", err)
	}
	// The default names a client by its address without the port.
	o, err := prepareOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"127.0.0.1:1234": "127.0.0.1", "127.0.0.1:5678": "127.0.0.1", "[::1]:80": "::1", "10.0.0.7:80": "10.0.0.7"} {
		req := &http.Request{RemoteAddr: addr}
		if got := o.ClientAddr(req); got != want {
			t.Errorf("client of %s: %q, want %q", addr, got, want)
		}
	}
}

// A member that stops reading, sent large frames, is dropped at the byte
// bound of its queue, long before the frame bound; under DropMessage the
// frames past the bound are skipped and the member stays. The bound is on
// what waits: once the writer took the frames, as many again fit.
func TestHubQueueByteBound(t *testing.T) {
	big := []byte(strings.Repeat("x", 64<<10))
	member := func(t *testing.T) *Conn {
		opts, err := prepareOptions([]*Options{{HubQueueSize: 1000, HubQueueBytes: 200 << 10}})
		if err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return newConn(nil, newNetConn(a), &http.Request{RemoteAddr: "fake"}, opts)
	}
	t.Run("disconnect", func(t *testing.T) {
		slow := member(t)
		h := newHub(t, nil)
		h.Join("r", slow)
		for i := 0; i < 10; i++ {
			h.Publish("r", BinaryMessage, big)
		}
		if n := len(queued(slow)); n != 3 {
			t.Errorf("queued %d frames of 64 KiB under a 200 KiB bound, want 3", n)
		}
		if s := h.Stats(); s.SlowDisconnects != 1 {
			t.Errorf("stats %+v, want the member disconnected as slow", s)
		}
	})
	t.Run("drop", func(t *testing.T) {
		slow := member(t)
		h := newHub(t, &HubOptions{SlowClientPolicy: DropMessage})
		h.Join("r", slow)
		for round := 0; round < 3; round++ {
			for i := 0; i < 10; i++ {
				h.Publish("r", BinaryMessage, big)
			}
			// The writer takes what waits: the next round finds room for
			// 3 frames again.
			if n := len(queued(slow)); n != 3 {
				t.Errorf("round %d: queued %d frames of 64 KiB under a 200 KiB bound, want 3", round, n)
			}
		}
		if s := h.Stats(); s.Dropped != 21 || s.SlowDisconnects != 0 || isClosed(slow.stop) {
			t.Errorf("stats %+v (closed %v), want 21 frames dropped and the member kept", s, isClosed(slow.stop))
		}
	})
	// One frame over the bound is taken when nothing else waits.
	var o outbox
	o.max, o.maxBytes = 10, 100
	if !o.push(queuedFrame{size: 500}) || o.push(queuedFrame{size: 1}) {
		t.Error("a lone frame over the byte bound is refused, or one more taken after it")
	}
}

// A member that reads keeps its place however much passes through its
// queue: 4 MiB in bursts of two 32 KiB frames, through a bound of 128
// KiB, all delivered, in order, and nobody counted slow.
func TestHubQueueBytesAreFreedAsTheClientReads(t *testing.T) {
	h := newHub(t, nil) // DisconnectSlowClient
	opts := quiet()
	opts.HubQueueBytes = 128 << 10
	ts := hubServer(t, h, opts)
	ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL()+"?room=r", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	testkit.Eventually(t, "the member in its room", func() bool { return h.Count("r") == 1 })
	payload := strings.Repeat("x", 32<<10)
	const bursts = 64
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for i := 0; i < bursts; i++ {
		for j := 0; j < 2; j++ {
			h.Publish("r", TextMessage, []byte(fmt.Sprintf("%d:%s", 2*i+j, payload)))
		}
		for j := 0; j < 2; j++ {
			_, p, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("frame %d of %d: %v (hub %+v)", 2*i+j, 2*bursts, err, h.Stats())
			}
			if want := fmt.Sprintf("%d:", 2*i+j); !strings.HasPrefix(string(p), want) {
				t.Fatalf("frame %d: got %.10q", 2*i+j, p)
			}
		}
	}
	if s := h.Stats(); s.SlowDisconnects != 0 || s.Dropped != 0 || s.MessagesOut != 2*bursts {
		t.Errorf("stats %+v, want %d delivered and nobody slow", s, 2*bursts)
	}
}

// AllowedHosts: a Host not listed gets 403 (DNS rebinding), a listed one
// upgrades.
func TestAllowedHosts(t *testing.T) {
	hc, err := newHostChecker([]string{"localhost", "127.0.0.1:4000", "*.example.com", "[::1]"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1:4000": true, "127.0.0.1:4001": false,
		"127.0.0.1": false, "a.example.com": true, "a.b.example.com:443": true, "example.com": false,
		"badexample.com": false, "[::1]:4000": true, "rebind.attacker.test": false, "": false,
	} {
		if got := hc.allowed(&http.Request{Host: host}); got != want {
			t.Errorf("host %q: allowed %v, want %v", host, got, want)
		}
	}
	if _, err := newHostChecker([]string{"a b"}); err == nil {
		t.Error("a host with a space accepted")
	}
	// The same rules for an app's other routes.
	check, err := HostCheck([]string{"localhost"})
	if err != nil || !check(&http.Request{Host: "localhost:4001"}) || check(&http.Request{Host: "rebind.attacker.test"}) {
		t.Errorf("HostCheck: %v", err)
	}
	if any, err := HostCheck(nil); err != nil || !any(&http.Request{Host: "anything"}) {
		t.Errorf("HostCheck(nil): %v", err)
	}
	if _, err := HostCheck([]string{"a/b"}); err == nil {
		t.Error("HostCheck: a host with a slash accepted")
	}

	opts := quiet()
	opts.AllowedHosts = []string{"127.0.0.1"}
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) { <-done })
	ts.dial(t, nil) // Host 127.0.0.1:PORT
	_, resp, err := ts.tryDial(http.Header{"Host": {"rebind.attacker.test"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: got %v, want 403", err)
	}
}

// What a client sends reaches the log cut to a few hundred bytes, with its
// length: an Origin of 1 MB, a Host, a path and a client name (the
// ClientAddr hook's) of 256 KiB, and at Debug a payload of 60 KB that is
// not JSON for the bound type (a number of 60,000 digits, which
// encoding/json's error quotes too). The query is not logged at all.
func TestClientValuesAreLoggedBounded(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	opts := &Options{
		Logger: log.New(logs, "", 0), LogLevel: LogLevelDebug, Group: &Group{},
		AllowedOrigin: "https://ok.example", AllowedHosts: []string{"127.0.0.1"},
		MaxConnectionsPerClient: 1,
		ClientAddr:              func(r *http.Request) string { return r.Header.Get("X-Client") },
	}
	type number struct {
		N int `json:"n"`
	}
	m := macaron.New()
	m.Get("/ws/*", JSON(number{}, opts), func(receiver <-chan *number, done <-chan bool) {
		for {
			select {
			case <-receiver:
			case <-done:
				return
			}
		}
	})
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/"
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	long := func(n int) string { return strings.Repeat("o", n) }

	origin := "https://" + long(1<<20)
	if _, _, err := d.Dial(wsURL+"x", http.Header{"Origin": {origin}}); err == nil {
		t.Error("a foreign Origin upgraded")
	}
	host := long(256 << 10)
	if _, _, err := d.Dial(wsURL+"x", http.Header{"Host": {host}}); err == nil {
		t.Error("a foreign Host upgraded")
	}
	path, query, client := long(256<<10), long(256<<10), long(256<<10)
	ws, _, err := d.Dial(wsURL+path+"?q="+query, http.Header{"X-Client": {client}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, resp, err := d.Dial(wsURL+"x", http.Header{"X-Client": {client}}); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Error("a second connection from a client capped at one upgraded")
	}
	payload := `{"n":` + strings.Repeat("1", 60000) + `}`
	ws.WriteMessage(websocket.TextMessage, []byte(payload))
	testkit.Eventually(t, "the payload logged", func() bool { return strings.Contains(logs.String(), "dropped payload") })

	got := logs.String()
	for _, line := range strings.Split(got, "\n") {
		if len(line) > 1024 {
			t.Errorf("a log line of %d bytes: %.300s…", len(line), line)
		}
	}
	for what, n := range map[string]int{"Origin": len(origin), "Host": len(host), "path": len("/ws/") + len(path), "client": len(client), "payload": len(payload)} {
		if !strings.Contains(got, fmt.Sprintf("(%d bytes)", n)) {
			t.Errorf("the %s's length (%d) is not logged:\n%.2000s", what, n, got)
		}
	}
	if strings.Contains(got, "q="+query[:100]) {
		t.Errorf("the query is logged:\n%.2000s", got)
	}
	// The same error on errs, which an app may log, is as bounded.
	de := &DecodeError{Type: "sockets.number", Payload: truncate([]byte(payload)), Err: errors.New(payload)}
	if n := len(de.Error()); n > 1024 {
		t.Errorf("a DecodeError's text is %d bytes", n)
	}
}

func TestListenHosts(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:4000":      "localhost 127.0.0.1 ::1",
		"localhost:4000":      "localhost 127.0.0.1 ::1",
		"[::1]:4000":          "localhost 127.0.0.1 ::1",
		"127.0.0.2:80":        "localhost 127.0.0.1 ::1 127.0.0.2",
		"chat.example.com:80": "chat.example.com",
		":4000":               "",
		"0.0.0.0:4000":        "",
		"[::]:4000":           "",
	} {
		if got := strings.Join(ListenHosts(addr), " "); got != want {
			t.Errorf("%s: got %q, want %q", addr, got, want)
		}
	}
}

// HostGuard answers 403 to a foreign Host before the app's handlers run,
// and lets an allowed one through.
func TestHostGuardRefusesForeignHosts(t *testing.T) {
	guard, err := HostGuard([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	m := macaron.New()
	m.Use(guard)
	m.Get("/", func() string { return "the page" })
	for host, want := range map[string]int{"localhost:4000": http.StatusOK, "rebind.attacker.test": http.StatusForbidden} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		m.ServeHTTP(rec, req)
		if rec.Code != want || (want != http.StatusOK && strings.Contains(rec.Body.String(), "the page")) {
			t.Errorf("Host %q: %d %q, want %d", host, rec.Code, rec.Body, want)
		}
	}
	if _, err := HostGuard([]string{"a/b"}); err == nil {
		t.Error("HostGuard: a host with a slash accepted")
	}
}
