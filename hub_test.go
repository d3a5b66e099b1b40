package sockets

import (
	"expvar"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// fakeConn is a connection without a socket: its queue is never drained.
func fakeConn(t *testing.T, queue int) *Conn {
	t.Helper()
	opts, err := prepareOptions([]*Options{{HubQueueSize: queue}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return newConn(nil, newNetConn(a), &http.Request{RemoteAddr: "fake"}, opts)
}

func newHub(t *testing.T, opts *HubOptions) *Hub {
	t.Helper()
	h, err := NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func queued(c *Conn) []*websocket.PreparedMessage {
	var out []*websocket.PreparedMessage
	for _, f := range c.queue.take(nil) {
		out = append(out, f.pm)
	}
	return out
}

func TestHubFanOutEncodesOnce(t *testing.T) {
	h := newHub(t, nil)
	a, b, c, other := fakeConn(t, 8), fakeConn(t, 8), fakeConn(t, 8), fakeConn(t, 8)
	for _, m := range []*Conn{a, b, c} {
		h.Join("room", m)
	}
	h.Join("elsewhere", other)
	h.Publish("room", websocket.TextMessage, []byte("hi"))

	qa, qb, qc := queued(a), queued(b), queued(c)
	if len(qa) != 1 || len(qb) != 1 || len(qc) != 1 {
		t.Fatalf("queued: got %d, %d, %d; want one each", len(qa), len(qb), len(qc))
	}
	if qa[0] != qb[0] || qb[0] != qc[0] {
		t.Error("members got different prepared messages: encoded more than once")
	}
	if n := len(queued(other)); n != 0 {
		t.Errorf("member of another room got %d messages, want 0", n)
	}
	if s := h.Stats(); s.MessagesIn != 1 || s.MessagesOut != 3 || s.Rooms != 2 || s.Connections != 4 {
		t.Errorf("stats: got %+v", s)
	}
}

func TestHubPublishExceptAndAll(t *testing.T) {
	h := newHub(t, nil)
	a, b, c := fakeConn(t, 8), fakeConn(t, 8), fakeConn(t, 8)
	h.Join("x", a)
	h.Join("x", b)
	h.Join("y", b) // in two rooms: still one copy of a hub-wide message
	h.Join("y", c)
	h.PublishExcept("x", a, websocket.TextMessage, []byte("not to a"))
	if n, m := len(queued(a)), len(queued(b)); n != 0 || m != 1 {
		t.Errorf("PublishExcept: sender got %d, other got %d; want 0 and 1", n, m)
	}
	h.PublishAll(websocket.TextMessage, []byte("everyone"))
	for i, m := range []*Conn{a, b, c} {
		if n := len(queued(m)); n != 1 {
			t.Errorf("PublishAll: connection %d got %d copies, want 1", i, n)
		}
	}
}

func TestHubMembership(t *testing.T) {
	h := newHub(t, nil)
	a, b := fakeConn(t, 8), fakeConn(t, 8)
	h.Join("r1", a)
	h.Join("r1", a) // twice is once
	h.Join("r1", b)
	h.Join("r2", a)
	if got := h.Count("r1"); got != 2 {
		t.Errorf("Count(r1): got %d, want 2", got)
	}
	if got := h.Members("r1"); len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Members(r1): got %v", got)
	}
	if got := strings.Join(h.Rooms(), ","); got != "r1,r2" {
		t.Errorf("Rooms: got %q, want r1,r2", got)
	}
	h.Leave("r1", a)
	if got := h.Count("r1"); got != 1 {
		t.Errorf("Count(r1) after Leave: got %d, want 1", got)
	}
	h.LeaveAll(a)
	if got := strings.Join(h.Rooms(), ","); got != "r1" {
		t.Errorf("Rooms after LeaveAll: got %q, want r1", got)
	}
}

func TestHubSlowClientPolicies(t *testing.T) {
	t.Run("drop", func(t *testing.T) {
		h := newHub(t, &HubOptions{SlowClientPolicy: DropMessage})
		slow, fast := fakeConn(t, 2), fakeConn(t, 100)
		h.Join("r", slow)
		h.Join("r", fast)
		for i := 0; i < 5; i++ {
			h.Publish("r", websocket.TextMessage, []byte{byte(i)})
		}
		if n := len(queued(fast)); n != 5 {
			t.Errorf("fast member got %d, want 5", n)
		}
		if n := len(queued(slow)); n != 2 {
			t.Errorf("slow member got %d, want its queue's 2", n)
		}
		if s := h.Stats(); s.Dropped != 3 || s.SlowDisconnects != 0 {
			t.Errorf("stats: got dropped %d, slow disconnects %d; want 3 and 0", s.Dropped, s.SlowDisconnects)
		}
		if isClosed(slow.stop) {
			t.Error("slow member asked to close under DropMessage")
		}
	})
	t.Run("disconnect", func(t *testing.T) {
		h := newHub(t, nil)
		slow := fakeConn(t, 2)
		h.Join("r", slow)
		for i := 0; i < 3; i++ {
			h.Publish("r", websocket.TextMessage, []byte{byte(i)})
		}
		if !isClosed(slow.stop) || slow.reason.code != websocket.ClosePolicyViolation {
			t.Fatalf("slow member: got reason %+v, want a close with 1008", slow.reason)
		}
		if s := h.Stats(); s.SlowDisconnects != 1 || s.Dropped != 0 {
			t.Errorf("stats: got slow disconnects %d, dropped %d; want 1 and 0", s.SlowDisconnects, s.Dropped)
		}
	})
}

func TestHubConcurrentUse(t *testing.T) {
	h := newHub(t, &HubOptions{SlowClientPolicy: DropMessage})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			room := fmt.Sprintf("r%d", g%3)
			for i := 0; i < 200; i++ {
				c := fakeConn(t, 4)
				h.Join(room, c)
				h.Publish(room, websocket.TextMessage, []byte("x"))
				h.PublishAll(websocket.BinaryMessage, []byte("y"))
				h.Members(room)
				h.Stats()
				h.LeaveAll(c)
			}
		}(g)
	}
	wg.Wait()
	if s := h.Stats(); s.Connections != 0 || s.Rooms != 0 {
		t.Errorf("after everyone left: got %+v", s)
	}
}

func TestHubExpvar(t *testing.T) {
	h := newHub(t, nil)
	h.Join("r", fakeConn(t, 1))
	name := fmt.Sprintf("sockets_hub_test_%d", time.Now().UnixNano())
	if err := h.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	if got := expvar.Get(name).String(); !strings.Contains(got, `"rooms":1`) {
		t.Errorf("expvar: got %s", got)
	}
	if err := h.PublishExpvar(name); err == nil {
		t.Error("publishing a taken name: got no error")
	}
}

// hubServer routes /ws/:room through a binding whose handler joins the hub
// and publishes what it receives to the room, sender left out.
func hubServer(t *testing.T, h *Hub, opts *Options) *testServer {
	t.Helper()
	return newTestServer(t, Messages(opts), func(ctx *macaron.Context, c *Conn, receiver <-chan string, done <-chan bool) {
		room := ctx.Query("room")
		h.Join(room, c)
		for {
			select {
			case m := <-receiver:
				h.PublishExcept(room, c, websocket.TextMessage, []byte(m))
			case <-done:
				return
			}
		}
	})
}

func TestHubOverRealSockets(t *testing.T) {
	h := newHub(t, nil)
	ts := hubServer(t, h, quiet())
	dialRoom := func(room string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL()+"?room="+room, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	a1, a2, b1 := dialRoom("a"), dialRoom("a"), dialRoom("b")
	testkit.Eventually(t, "3 members", func() bool { return h.Count("a") == 2 && h.Count("b") == 1 })
	a1.WriteMessage(websocket.TextMessage, []byte("to a"))
	b1.WriteMessage(websocket.TextMessage, []byte("to b"))
	if _, got := readText(t, a2); got != "to a" {
		t.Errorf("a2 got %q, want \"to a\"", got)
	}
	// b1 is alone in b: it gets nothing of a's, and not its own message.
	a2.WriteMessage(websocket.TextMessage, []byte("a again"))
	if _, got := readText(t, a1); got != "a again" {
		t.Errorf("a1 got %q", got)
	}
	b1.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, p, err := b1.ReadMessage(); err == nil {
		t.Errorf("b1 got %q, want nothing", p)
	}
	for _, ws := range []*websocket.Conn{a1, a2, b1} {
		ws.Close()
	}
	ts.waitFinished(t, 3)
	if s := h.Stats(); s.Connections != 0 || s.Rooms != 0 {
		t.Errorf("after the connections ended: got %+v, want no rooms left", s)
	}
}

// A client that never reads fills its queue; the publisher never blocks and
// the policy applies, while a client that keeps up gets everything in order.
func TestHubSlowRealClient(t *testing.T) {
	for _, policy := range []SlowClientPolicy{DisconnectSlowClient, DropMessage} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			h := newHub(t, &HubOptions{SlowClientPolicy: policy})
			fastOpts, slowOpts := quiet(), quiet()
			// The fast client's queue holds the whole burst (600 frames of
			// 32 KiB, published at once): no byte bound for it.
			fastOpts.HubQueueSize, fastOpts.HubQueueBytes = 1000, -1
			slowOpts.HubQueueSize = 4
			fastSrv, slowSrv := hubServer(t, h, fastOpts), hubServer(t, h, slowOpts)
			fast, _, err := websocket.DefaultDialer.Dial(fastSrv.wsURL()+"?room=r", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			slow, _, err := websocket.DefaultDialer.Dial(slowSrv.wsURL()+"?room=r", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			testkit.Eventually(t, "2 members", func() bool { return h.Count("r") == 2 })

			const n = 600
			payload := strings.Repeat("x", 32<<10)
			received := make(chan int, 1)
			go func() {
				i := 0
				fast.SetReadDeadline(time.Now().Add(2 * waitTimeout))
				for ; i < n; i++ {
					_, p, err := fast.ReadMessage()
					if err != nil || !strings.HasPrefix(string(p), fmt.Sprintf("%d:", i)) {
						break
					}
				}
				received <- i
			}()
			start := time.Now()
			for i := 0; i < n; i++ {
				h.Publish("r", websocket.TextMessage, []byte(fmt.Sprintf("%d:%s", i, payload)))
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("publishing took %v: blocked on the slow client?", d)
			}
			if got := recv(t, received, "fast client's count"); got != n {
				t.Errorf("fast client got %d in order, want %d", got, n)
			}
			s := h.Stats()
			switch policy {
			case DropMessage:
				if s.Dropped == 0 || h.Count("r") != 2 {
					t.Errorf("drop: got %+v and %d members; want drops and both members", s, h.Count("r"))
				}
			case DisconnectSlowClient:
				testkit.Eventually(t, "the slow client to leave", func() bool { return h.Count("r") == 1 })
				if s.SlowDisconnects != 1 {
					t.Errorf("disconnect: got %+v, want 1 slow disconnect", s)
				}
			}
			fast.Close()
			slow.Close()
			fastSrv.waitFinished(t, 1)
			slowSrv.waitFinished(t, 1)
		})
	}
}

// Every binding's handler can join a hub; a hub frame goes out as
// published (text or binary), beside the binding's own frames.
func TestHubFromEveryBinding(t *testing.T) {
	h := newHub(t, nil)
	join := func(c *Conn, done <-chan bool) {
		h.Join("all", c)
		<-done
	}
	servers := []*testServer{
		newTestServer(t, Messages(quiet()), join),
		newTestServer(t, ByteSliceMessages(quiet()), join),
		newTestServer(t, JSON(message{}, quiet()), join),
	}
	var clients []*websocket.Conn
	for _, ts := range servers {
		clients = append(clients, ts.dial(t, nil))
	}
	testkit.Eventually(t, "3 members", func() bool { return h.Count("all") == 3 })
	h.Publish("all", websocket.BinaryMessage, []byte{0, 1, 2})
	h.PublishJSON("all", message{Seq: 5})
	for i, ws := range clients {
		if mt, got := readText(t, ws); mt != websocket.BinaryMessage || got != "\x00\x01\x02" {
			t.Errorf("client %d: got type %d %q, want the binary frame", i, mt, got)
		}
		if mt, got := readText(t, ws); mt != websocket.TextMessage || got != `{"seq":5,"text":""}` {
			t.Errorf("client %d: got type %d %q, want the JSON text frame", i, mt, got)
		}
		ws.Close()
	}
	for _, ts := range servers {
		ts.waitFinished(t, 1)
	}
}

func closeHooks(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.onClose)
}

// A connection that moves between rooms for its whole life registers one
// close hook with the hub, not one per move; once closed, the hub keeps
// nothing of it.
func TestHubRejoinKeepsOneCloseHook(t *testing.T) {
	h := newHub(t, nil)
	c := fakeConn(t, 4)
	for i := 0; i < 1000; i++ {
		h.Join("a", c)
		h.Leave("a", c)
		h.Join("b", c)
		h.LeaveAll(c)
	}
	if n := closeHooks(c); n != 1 {
		t.Errorf("close hooks after 1000 room changes: got %d, want 1", n)
	}
	h.Join("a", c)
	c.markGone() // as the closer does
	if h.Count("a") != 0 || h.Stats().Connections != 0 {
		t.Errorf("after close: %d in room a, %d connections; want 0", h.Count("a"), h.Stats().Connections)
	}
	h.mu.RLock()
	n := len(h.members)
	h.mu.RUnlock()
	if n != 0 {
		t.Errorf("hub still holds %d closed connections", n)
	}
	// Joining after the close leaves nothing behind either.
	h.Join("a", c)
	if h.Count("a") != 0 {
		t.Error("a closed connection stayed in a room")
	}
}

// The empty room name is not a room: Publish("") is not a way to reach
// every room (that is PublishAll), and Join("") is refused.
func TestHubRefusesTheEmptyRoom(t *testing.T) {
	h := newHub(t, nil)
	a := fakeConn(t, 4)
	if err := h.Join("", a); err == nil {
		t.Error("Join(\"\"): no error")
	}
	h.Join("other", a)
	for name, publish := range map[string]func() error{
		"Publish":       func() error { return h.Publish("", websocket.TextMessage, []byte("x")) },
		"PublishExcept": func() error { return h.PublishExcept("", nil, websocket.TextMessage, []byte("x")) },
		"PublishJSON":   func() error { return h.PublishJSON("", "x") },
	} {
		if err := publish(); err == nil {
			t.Errorf("%s to room \"\": no error", name)
		}
	}
	if n := len(queued(a)); n != 0 {
		t.Errorf("a member of another room got %d frames from publishes to \"\"", n)
	}
	if got := h.Stats().Refused; got != 3 {
		t.Errorf("Refused: got %d, want 3", got)
	}
}

// Only data frames go out through a hub, and text must be UTF-8, whether
// published here or arriving from another instance.
func TestHubRefusesWhatIsNotADataFrame(t *testing.T) {
	b := newRecordingBroker()
	h := newHub(t, &HubOptions{Broker: b})
	a := fakeConn(t, 8)
	h.Join("r", a)
	bad := []struct {
		name string
		typ  int
		data []byte
	}{
		{"close frame", websocket.CloseMessage, websocket.FormatCloseMessage(1000, "")},
		{"ping frame", websocket.PingMessage, nil},
		{"unknown type", 42, []byte("x")},
		{"text that is not UTF-8", websocket.TextMessage, []byte{0xff, 0xfe, 'x'}},
	}
	for _, m := range bad {
		if err := h.Publish("r", m.typ, m.data); err == nil {
			t.Errorf("Publish of a %s: no error", m.name)
		}
		b.deliver(Envelope{Room: "r", Type: m.typ, Data: m.data})
	}
	if n := len(queued(a)); n != 0 {
		t.Errorf("member got %d frames, want 0", n)
	}
	if n := len(b.published); n != 0 {
		t.Errorf("broker was handed %d refused messages", n)
	}
	if got := h.Stats().Refused; got != uint64(2*len(bad)) {
		t.Errorf("Refused: got %d, want %d", got, 2*len(bad))
	}
	// Binary may be anything.
	if err := h.Publish("r", websocket.BinaryMessage, []byte{0xff, 0xfe}); err != nil {
		t.Errorf("binary publish: %v", err)
	}
	if n := len(queued(a)); n != 1 {
		t.Errorf("binary publish: member got %d frames, want 1", n)
	}
}

// What a handler sends on a buffered sender before it publishes to a room
// is written before that hub frame, even when the writer finds both
// waiting (a select would pick either) or looks at the sender just before
// the send and at the hub queue just after the publish.
func TestSenderFramesGoBeforeLaterHubFrames(t *testing.T) {
	h := newHub(t, nil)
	const n = 3000
	opts := quiet()
	opts.SendChannelBuffer = 64
	opts.HubQueueSize = 2 * n
	ts := newTestServer(t, Messages(opts), func(c *Conn, sender chan<- string, done <-chan bool) {
		h.Join("r", c)
		for i := 0; i < n; i++ {
			sender <- fmt.Sprint("s", i)
			h.Publish("r", websocket.TextMessage, []byte(fmt.Sprint("h", i)))
		}
		<-done
	})
	ws := ts.dial(t, nil)
	defer ws.Close()
	sent := -1 // the last sender frame read
	for read := 0; read < 2*n; read++ {
		_, m := readText(t, ws)
		var i int
		switch {
		case strings.HasPrefix(m, "s"):
			fmt.Sscan(m[1:], &i)
			sent = i
		case strings.HasPrefix(m, "h"):
			fmt.Sscan(m[1:], &i)
			if sent < i {
				t.Fatalf("hub frame h%d before sender frame s%d, which was sent first", i, i)
			}
		}
	}
}
