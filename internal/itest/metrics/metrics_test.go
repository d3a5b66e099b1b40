package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit/metricstest"
	"github.com/macaron-contrib/sockets/metrics"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// A broker's metrics: messages published, the latency of each publish
// as a histogram, and publish errors while NATS is away.
func TestBrokerMetrics(t *testing.T) {
	ns := natstest.Start(t, -1)
	b, err := natsbroker.Connect(ns.ClientURL(), natsbroker.Options{
		Logger:           quietLog,
		ReconnectBufSize: -1, // publishes fail at once while disconnected
		NATSOptions:      []nats.Option{nats.ReconnectWait(20 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: b})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	s := metricstest.New(t, metrics.Sources{Hubs: map[string]*sockets.Hub{"chat": hub}, Brokers: map[string]*natsbroker.Broker{"chat": b}})
	const (
		published = `sockets_broker_messages_published_total{broker="chat"}`
		failed    = `sockets_broker_publish_errors_total{broker="chat"}`
		count     = `sockets_broker_publish_duration_seconds_count{broker="chat"}`
		sum       = `sockets_broker_publish_duration_seconds_sum{broker="chat"}`
		tenS      = `sockets_broker_publish_duration_seconds_bucket{broker="chat",le="10"}`
		disc      = `sockets_broker_disconnects_total{broker="chat"}`
		subs      = `sockets_broker_subscriptions{broker="chat"}`
		hubErrs   = `sockets_hub_broker_errors_total{hub="chat"}`
	)
	metricstest.Expect(t, s.Scrape(), map[string]float64{published: 0, failed: 0, count: 0, sum: 0, tenS: 0, disc: 0, subs: 1, hubErrs: 0})

	const n = 20
	for i := 0; i < n; i++ {
		if err := hub.Publish("r", sockets.TextMessage, []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	got := s.Scrape()
	metricstest.Expect(t, got, map[string]float64{published: n, failed: 0, count: n, tenS: n})
	if got.Get(sum) <= 0 {
		t.Errorf("%s = %v after %d publishes", sum, got.Get(sum), n)
	}
	// Buckets are cumulative, and every bound of the broker is there.
	prev := 0.0
	for _, bound := range natsbroker.LatencyBounds() {
		k := `sockets_broker_publish_duration_seconds_bucket{broker="chat",le="` + fmt.Sprint(bound.Seconds()) + `"}`
		v, ok := got[k]
		if !ok {
			t.Fatalf("no bucket %s", k)
		}
		if v < prev {
			t.Errorf("%s = %v, below the bucket before (%v)", k, v, prev)
		}
		prev = v
	}

	natstest.Stop(ns)
	s.WaitFor(disc, 1)
	if err := hub.Publish("r", sockets.TextMessage, []byte("lost")); err == nil {
		t.Fatal("Publish succeeded with NATS gone and no reconnect buffer")
	}
	metricstest.Expect(t, s.Scrape(), map[string]float64{published: n, failed: 1, hubErrs: 1, count: n + 1})
}

// The metrics follow the ecosystem's naming rules (testutil's linter), a
// pedantic registry accepts them, and a namespace replaces "sockets".
func TestLintAndNamespace(t *testing.T) {
	ns := natstest.Start(t, -1)
	b, err := natsbroker.Connect(ns.ClientURL(), natsbroker.Options{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: b})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	g := &sockets.Group{}
	src := metrics.Sources{
		Groups:  map[string]*sockets.Group{"chat": g},
		Hubs:    map[string]*sockets.Hub{"chat": hub},
		Brokers: map[string]*natsbroker.Broker{"chat": b},
	}
	c, err := metrics.New(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{
		"sockets_connections_open", "sockets_connections_accepted_total", "sockets_upgrades_refused_total",
		"sockets_messages_received_total", "sockets_received_bytes_total", "sockets_messages_sent_total",
		"sockets_sent_bytes_total", "sockets_decode_errors_total", "sockets_encode_errors_total",
		"sockets_messages_rate_limited_total", "sockets_handler_panics_total",
		"sockets_hub_members", "sockets_hub_rooms", "sockets_hub_messages_total", "sockets_hub_deliveries_total",
		"sockets_hub_messages_dropped_total", "sockets_hub_slow_disconnects_total", "sockets_hub_messages_refused_total",
		"sockets_hub_broker_errors_total", "sockets_hub_store_errors_total",
		"sockets_hub_history_gaps_total", "sockets_hub_gap_disconnects_total",
		"sockets_broker_messages_published_total", "sockets_broker_publish_errors_total",
		"sockets_broker_publish_duration_seconds", "sockets_broker_messages_received_total",
		"sockets_broker_own_messages_skipped_total", "sockets_broker_messages_malformed_total",
		"sockets_broker_messages_dropped_total", "sockets_broker_disconnects_total",
		"sockets_broker_reconnects_total", "sockets_broker_subscriptions",
	} {
		if !names[want] {
			t.Errorf("no metric %s", want)
		}
	}

	c2, err := metrics.New(src, &metrics.Options{Namespace: "app_ws"})
	if err != nil {
		t.Fatal(err)
	}
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(c2)
	if n, err := testutil.GatherAndCount(reg2, "app_ws_connections_open", "app_ws_hub_rooms", "app_ws_broker_publish_duration_seconds"); err != nil || n != 3 {
		t.Errorf("namespace app_ws: %d series, %v; want 3", n, err)
	}
}
