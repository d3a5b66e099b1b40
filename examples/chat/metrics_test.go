package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// metricValue finds the sample of series (name{labels} as exposed) in a
// text exposition.
func metricValue(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// scrapeMetrics fetches url and returns the body, failing the test unless the
// answer is 200.
func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	resp, body := testkit.Get(t, http.DefaultClient, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return body
}

// metricsServer serves a's metricsHandler on 127.0.0.1.
func metricsServer(t *testing.T, a *app) string {
	t.Helper()
	h, err := a.metricsHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// /metrics shows the chat's sockets and hub under "chat", and the Go
// runtime's metrics; a single instance has no broker metrics. Nothing
// else is served there.
func TestMetricsHandler(t *testing.T) {
	ts := newTestServer(t)
	url := metricsServer(t, ts.app)
	ts.join(t, "lobby", "ann")
	ts.join(t, "lobby", "bob")
	body := scrapeMetrics(t, url)
	for series, want := range map[string]float64{
		`sockets_connections_open{group="chat"}`:                       2,
		`sockets_connections_accepted_total{group="chat"}`:             2,
		`sockets_hub_members{hub="chat"}`:                              2,
		`sockets_hub_rooms{hub="chat"}`:                                1,
		`sockets_upgrades_refused_total{group="chat",reason="origin"}`: 0,
	} {
		if got, ok := metricValue(body, series); !ok || got != want {
			t.Errorf("%s = %v (found: %v), want %v", series, got, ok, want)
		}
	}
	if _, ok := metricValue(body, "go_goroutines"); !ok {
		t.Error("no go_goroutines")
	}
	if strings.Contains(body, "sockets_broker_") {
		t.Error("broker metrics without a broker")
	}
	if resp, _ := testkit.Get(t, http.DefaultClient, strings.TrimSuffix(url, "/metrics")+"/debug/vars"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/vars on the metrics listener: %d, want 404", resp.StatusCode)
	}
}

// With NATS, /metrics also shows the broker's, its publish latency
// among them.
func TestMetricsHandlerWithNATS(t *testing.T) {
	_, A, _ := newCluster(t)
	url := metricsServer(t, A.app)
	ann := A.join(t, "r", "ann")
	ann.say(t, "hello")
	body := scrapeMetrics(t, url)
	for _, series := range []string{
		`sockets_broker_messages_published_total{broker="chat"}`,
		`sockets_broker_publish_duration_seconds_count{broker="chat"}`,
		`sockets_broker_publish_duration_seconds_bucket{broker="chat",le="+Inf"}`,
	} {
		if got, ok := metricValue(body, series); !ok || got < 1 {
			t.Errorf("%s = %v (found: %v), want at least 1 once ann has spoken", series, got, ok)
		}
	}
}

var metricsLine = regexp.MustCompile(`metrics at http://(\S+)/metrics`)

// -metrics-addr serves /metrics on a listener of its own; without it, no
// metrics are served, on either listener.
func TestCommandMetricsAddr(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		c := startCommand(t, "-metrics-addr 127.0.0.1:0")
		addr := c.Listening(t)
		m := metricsLine.FindStringSubmatch(c.Stderr.String()) // said before listening
		if m == nil {
			t.Fatalf("no metrics address in the log:\n%s", c.Stderr)
		}
		ws, _, _, err := testkit.Dial("ws://" + addr + "/sockets/rooms/r/ann")
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		testkit.Eventually(t, "the socket counted", func() bool {
			v, ok := metricValue(scrapeMetrics(t, "http://"+m[1]+"/metrics"), `sockets_connections_accepted_total{group="chat"}`)
			return ok && v == 1
		})
		if resp, _ := testkit.Get(t, http.DefaultClient, "http://"+addr+"/metrics"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics on the chat's listener: %d, want 404", resp.StatusCode)
		}
		ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		c.Cmd.Process.Signal(syscall.SIGTERM)
		c.WaitExit(t, "SIGTERM")
	})
	t.Run("unset", func(t *testing.T) {
		c := startCommand(t, "")
		addr := c.Listening(t)
		if metricsLine.MatchString(c.Stderr.String()) {
			t.Errorf("metrics served without -metrics-addr:\n%s", c.Stderr)
		}
		if resp, _ := testkit.Get(t, http.DefaultClient, "http://"+addr+"/metrics"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics on the chat's listener: %d, want 404", resp.StatusCode)
		}
		c.Cmd.Process.Signal(syscall.SIGTERM)
		c.WaitExit(t, "SIGTERM")
	})
}
