package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/internal/testkit/metricstest"
	"github.com/macaron-contrib/sockets/metrics"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// msg is the JSON binding's type; "unencodable" cannot be encoded.
type msg struct {
	Text string `json:"text"`
}

func (m msg) MarshalJSON() ([]byte, error) {
	if m.Text == "unencodable" {
		return nil, errors.New("a value the test cannot encode")
	}
	type plain msg
	return json.Marshal(plain(m))
}

// The group's metrics move as its connections do: accepted and open,
// messages and bytes both ways, a decode error, an encode error, a
// message over the rate, a handler's panic, close frames sent and
// received by code.
func TestGroupMetrics(t *testing.T) {
	g := &sockets.Group{}
	opts := &sockets.Options{
		Logger: quietLog, SkipLogging: true, Group: g,
		// Three messages per connection; the fourth is over the rate.
		MessageRate: 0.001, MessageBurst: 3,
	}
	m := macaron.New()
	m.Get("/ws", sockets.JSON(msg{}, opts), func(receiver <-chan *msg, sender chan<- *msg, disconnect chan<- int, done <-chan bool) {
		for {
			select {
			case m := <-receiver:
				switch m.Text {
				case "panic":
					panic("a panic the test asked for")
				case "bye":
					disconnect <- 4002
				default:
					sender <- m // "unencodable" cannot be
				}
			case <-done:
				return
			}
		}
	})
	srv := server(t, m)
	s := metricstest.New(t, metrics.Sources{Groups: map[string]*sockets.Group{"chat": g}})
	const (
		open     = `sockets_connections_open{group="chat"}`
		accepted = `sockets_connections_accepted_total{group="chat"}`
		msgsIn   = `sockets_messages_received_total{group="chat"}`
		bytesIn  = `sockets_received_bytes_total{group="chat"}`
		msgsOut  = `sockets_messages_sent_total{group="chat"}`
		bytesOut = `sockets_sent_bytes_total{group="chat"}`
		decode   = `sockets_decode_errors_total{group="chat"}`
		encode   = `sockets_encode_errors_total{group="chat"}`
		limited  = `sockets_messages_rate_limited_total{group="chat"}`
		panics   = `sockets_handler_panics_total{group="chat"}`
	)
	sent := func(code string) string { return `sockets_close_frames_sent_total{code="` + code + `",group="chat"}` }
	received := func(code string) string {
		return `sockets_close_frames_received_total{code="` + code + `",group="chat"}`
	}

	metricstest.Expect(t, s.Scrape(), map[string]float64{open: 0, accepted: 0, msgsIn: 0, msgsOut: 0, decode: 0, encode: 0, limited: 0, panics: 0})

	ws := dial(t, wsURL(srv, "/ws"), nil)
	metricstest.Expect(t, s.WaitFor(accepted, 1), map[string]float64{open: 1})

	hi := `{"text":"hi"}`
	send(t, ws, hi)
	echo := read(t, ws)
	metricstest.Expect(t, s.WaitFor(msgsOut, 1), map[string]float64{
		msgsIn: 1, bytesIn: float64(len(hi)), bytesOut: float64(len(echo)), decode: 0,
	})

	send(t, ws, `{"text":`)
	metricstest.Expect(t, s.WaitFor(decode, 1), map[string]float64{msgsIn: 2, msgsOut: 1, encode: 0})

	send(t, ws, `{"text":"unencodable"}`)
	metricstest.Expect(t, s.WaitFor(encode, 1), map[string]float64{msgsIn: 3, msgsOut: 1, limited: 0})

	send(t, ws, `{"text":"over the rate"}`)
	metricstest.Expect(t, s.WaitFor(limited, 1), map[string]float64{msgsIn: 4, msgsOut: 1})

	// The client closes with 4001: received, and answered with the same.
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, ""), time.Now().Add(testkit.Wait))
	if code := readClose(t, ws); code != 4001 {
		t.Errorf("answer to 4001: %d", code)
	}
	metricstest.Expect(t, s.WaitFor(received("4001"), 1), map[string]float64{sent("4001"): 1, open: 0})

	// The handler closes with 4002.
	ws = dial(t, wsURL(srv, "/ws"), nil)
	send(t, ws, `{"text":"bye"}`)
	if code := readClose(t, ws); code != 4002 {
		t.Errorf("close on bye: %d, want 4002", code)
	}
	ws.Close()
	metricstest.Expect(t, s.WaitFor(sent("4002"), 1), map[string]float64{accepted: 2})

	// The handler panics: 1011.
	ws = dial(t, wsURL(srv, "/ws"), nil)
	send(t, ws, `{"text":"panic"}`)
	if code := readClose(t, ws); code != websocket.CloseInternalServerErr {
		t.Errorf("close on panic: %d, want 1011", code)
	}
	ws.Close()
	metricstest.Expect(t, s.WaitFor(panics, 1), nil)
	metricstest.Expect(t, s.WaitFor(sent("1011"), 1), map[string]float64{accepted: 3, msgsIn: 6, msgsOut: 1, bytesOut: float64(len(echo))})
	s.WaitFor(open, 0)
}

// Each refusal before an upgrade counts under its reason, and only there.
func TestRefusalMetrics(t *testing.T) {
	g := &sockets.Group{}
	opts := &sockets.Options{
		Logger: quietLog, SkipLogging: true, Group: g,
		AllowedHosts:   []string{"127.0.0.1"},
		MaxConnections: 1,
	}
	m := macaron.New()
	m.Any("/ws", sockets.Messages(opts), func(done <-chan bool) { <-done })
	srv := server(t, m)
	s := metricstest.New(t, metrics.Sources{Groups: map[string]*sockets.Group{"api": g}})
	reasons := []string{"method", "host", "origin", "capacity", "shutdown", "handshake"}
	key := func(reason string) string {
		return `sockets_upgrades_refused_total{group="api",reason="` + reason + `"}`
	}
	want := map[string]float64{}
	for _, r := range reasons {
		want[key(r)] = 0
	}
	metricstest.Expect(t, s.Scrape(), want)
	refused := func(reason string) {
		t.Helper()
		want[key(reason)]++
		metricstest.Expect(t, s.Scrape(), want)
	}

	request := func(method, host string, wantStatus int) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s (Host %q): status %d, want %d", method, req.URL, host, resp.StatusCode, wantStatus)
		}
	}
	request(http.MethodPost, "", http.StatusMethodNotAllowed)
	refused("method")
	request(http.MethodGet, "example.com", http.StatusForbidden)
	refused("host")
	refusedWith(t, wsURL(srv, "/ws"), http.Header{"Origin": {"http://example.com"}}, http.StatusForbidden)
	refused("origin")
	request(http.MethodGet, "", http.StatusBadRequest) // no upgrade headers
	refused("handshake")

	ws := dial(t, wsURL(srv, "/ws"), nil)
	refusedWith(t, wsURL(srv, "/ws"), nil, http.StatusServiceUnavailable)
	refused("capacity")

	// The client reads (and answers) the close frame while Shutdown waits.
	closed := make(chan error, 1)
	go func() {
		ws.SetReadDeadline(time.Now().Add(testkit.Wait))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("close on shutdown: %v, want 1001", err)
	}
	refusedWith(t, wsURL(srv, "/ws"), nil, http.StatusServiceUnavailable)
	refused("shutdown")
	metricstest.Expect(t, s.WaitFor(`sockets_close_frames_sent_total{code="1001",group="api"}`, 1),
		map[string]float64{`sockets_connections_accepted_total{group="api"}`: 1, `sockets_connections_open{group="api"}`: 0})
}

// A hub's metrics: members and rooms, messages and deliveries, and a
// member that stops reading: its frames dropped under DropMessage, itself
// disconnected under DisconnectSlowClient.
func TestHubMetrics(t *testing.T) {
	drop, err := sockets.NewHub(&sockets.HubOptions{SlowClientPolicy: sockets.DropMessage})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := sockets.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &sockets.Group{}
	opts := &sockets.Options{Logger: quietLog, SkipLogging: true, Group: g, HubQueueSize: 1}
	m := macaron.New()
	hubs := map[string]*sockets.Hub{"drop": drop, "slow": slow}
	m.Get("/ws/:hub", sockets.Messages(opts), func(ctx *macaron.Context, c *sockets.Conn, done <-chan bool) {
		hubs[ctx.Params("hub")].Join("r", c)
		<-done
	})
	srv := server(t, m)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		g.Shutdown(ctx)
	})
	s := metricstest.New(t, metrics.Sources{Hubs: hubs})
	key := func(name, hub string) string { return "sockets_hub_" + name + `{hub="` + hub + `"}` }

	metricstest.Expect(t, s.Scrape(), map[string]float64{
		key("members", "drop"): 0, key("rooms", "drop"): 0, key("messages_total", "drop"): 0,
		key("deliveries_total", "drop"): 0, key("messages_dropped_total", "drop"): 0,
		key("slow_disconnects_total", "slow"): 0, key("messages_refused_total", "drop"): 0,
		key("broker_errors_total", "drop"): 0, key("store_errors_total", "drop"): 0,
		key("history_gaps_total", "drop"): 0, key("gap_disconnects_total", "drop"): 0,
	})

	// A member that reads.
	reader := dial(t, wsURL(srv, "/ws/drop"), nil)
	metricstest.Expect(t, s.WaitFor(key("members", "drop"), 1), map[string]float64{key("rooms", "drop"): 1, key("members", "slow"): 0})
	drop.Publish("r", sockets.TextMessage, []byte("hello"))
	if got := read(t, reader); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	metricstest.Expect(t, s.Scrape(), map[string]float64{key("messages_total", "drop"): 1, key("deliveries_total", "drop"): 1})
	drop.Publish("", sockets.TextMessage, []byte("no room"))
	metricstest.Expect(t, s.Scrape(), map[string]float64{key("messages_refused_total", "drop"): 1, key("messages_total", "drop"): 1})
	reader.Close()
	s.WaitFor(key("members", "drop"), 0)

	// Members that never read: once their socket buffers and their queue
	// of one are full, frames are dropped, or the member is closed.
	big := []byte(strings.Repeat("x", 256<<10))
	publishUntil := func(h *sockets.Hub, what string, moved func(metricstest.Samples) bool) metricstest.Samples {
		t.Helper()
		var last metricstest.Samples
		testkit.Eventually(t, what, func() bool {
			for i := 0; i < 8; i++ {
				h.Publish("r", sockets.BinaryMessage, big)
			}
			last = s.Scrape()
			return moved(last)
		})
		return last
	}
	dial(t, wsURL(srv, "/ws/drop"), nil)
	s.WaitFor(key("members", "drop"), 1)
	got := publishUntil(drop, "a frame dropped", func(v metricstest.Samples) bool { return v.Get(key("messages_dropped_total", "drop")) > 0 })
	if in, out, dropped := got.Get(key("messages_total", "drop")), got.Get(key("deliveries_total", "drop")), got.Get(key("messages_dropped_total", "drop")); in != out+dropped {
		t.Errorf("hub drop: %v messages, %v delivered + %v dropped", in, out, dropped)
	}
	metricstest.Expect(t, got, map[string]float64{key("slow_disconnects_total", "drop"): 0, key("members", "drop"): 1})

	dial(t, wsURL(srv, "/ws/slow"), nil)
	s.WaitFor(key("members", "slow"), 1)
	got = publishUntil(slow, "a slow member disconnected", func(v metricstest.Samples) bool { return v.Get(key("slow_disconnects_total", "slow")) > 0 })
	metricstest.Expect(t, got, map[string]float64{key("slow_disconnects_total", "slow"): 1, key("messages_dropped_total", "slow"): 0})
	s.WaitFor(key("members", "slow"), 0)
}

// gapStore is a history store whose follower the test drives: it hands
// the hub a record that follows records dropped unread.
type gapStore struct {
	sockets.HistoryStore
	followed chan func(sockets.Record)
}

func (s *gapStore) Follow(room string, deliver func(sockets.Record)) (func(), error) {
	s.followed <- deliver
	return func() {}, nil
}

// A gap the history store reports is counted, and so is each member
// closed for it.
func TestHubGapMetrics(t *testing.T) {
	store := &gapStore{followed: make(chan func(sockets.Record), 1)}
	hub, err := sockets.NewHub(&sockets.HubOptions{History: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	g := &sockets.Group{}
	opts := &sockets.Options{Logger: quietLog, SkipLogging: true, Group: g}
	m := macaron.New()
	m.Get("/ws", sockets.Messages(opts), func(c *sockets.Conn, done <-chan bool) {
		hub.Join("r", c)
		<-done
	})
	srv := server(t, m)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		g.Shutdown(ctx)
	})
	s := metricstest.New(t, metrics.Sources{Hubs: map[string]*sockets.Hub{"h": hub}})
	key := func(name string) string { return "sockets_hub_" + name + `{hub="h"}` }
	metricstest.Expect(t, s.Scrape(), map[string]float64{key("history_gaps_total"): 0, key("gap_disconnects_total"): 0})

	ws := dial(t, wsURL(srv, "/ws"), nil)
	var deliver func(sockets.Record)
	select {
	case deliver = <-store.followed:
	case <-time.After(testkit.Wait):
		t.Fatal("the hub did not follow the room")
	}
	s.WaitFor(key("members"), 1)
	deliver(sockets.Record{Room: "r", Pos: sockets.Position{Epoch: "e", Offset: 9}, Type: sockets.TextMessage, Data: []byte("x"), Missed: true})
	metricstest.Expect(t, s.Scrape(), map[string]float64{key("history_gaps_total"): 1, key("gap_disconnects_total"): 1, key("deliveries_total"): 0})
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		t.Fatalf("the member after a gap: %v, want a 1013 close", err)
	}
}

// New refuses what it cannot name: a bad namespace, an empty name, a nil
// source.
func TestNewRefusesBadInput(t *testing.T) {
	g := &sockets.Group{}
	for _, c := range []struct {
		what string
		src  metrics.Sources
		opts *metrics.Options
	}{
		{"namespace with a dash", metrics.Sources{}, &metrics.Options{Namespace: "my-app"}},
		{"namespace starting with a digit", metrics.Sources{}, &metrics.Options{Namespace: "1app"}},
		{"empty group name", metrics.Sources{Groups: map[string]*sockets.Group{"": g}}, nil},
		{"nil group", metrics.Sources{Groups: map[string]*sockets.Group{"a": nil}}, nil},
		{"nil hub", metrics.Sources{Hubs: map[string]*sockets.Hub{"a": nil}}, nil},
		{"nil broker", metrics.Sources{Brokers: map[string]*natsbroker.Broker{"a": nil}}, nil},
	} {
		if _, err := metrics.New(c.src, c.opts); err == nil {
			t.Errorf("%s: no error", c.what)
		}
	}
	if _, err := metrics.New(metrics.Sources{}, nil); err != nil {
		t.Errorf("no sources: %v", err)
	}
}
