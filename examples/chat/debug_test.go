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

// debugServer serves a's debugHandler on 127.0.0.1 and returns its URL.
func debugServer(t *testing.T, a *app) string {
	t.Helper()
	h, err := a.debugHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The debug listener's /metrics shows the chat's sockets and hub under
// "chat", and the Go runtime's metrics; its /debug/vars, expvar's.
func TestDebugHandler(t *testing.T) {
	ts := newTestServer(t)
	url := debugServer(t, ts.app)
	ts.join(t, "lobby", "ann")
	ts.join(t, "lobby", "bob")
	body := scrapeMetrics(t, url+"/metrics")
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
	resp, vars := testkit.Get(t, http.DefaultClient, url+"/debug/vars")
	if resp.StatusCode != http.StatusOK || !strings.Contains(vars, `"memstats"`) {
		t.Errorf("GET /debug/vars on the debug listener: %d\n%.200s", resp.StatusCode, vars)
	}
}

var debugLine = regexp.MustCompile(`metrics at http://(\S+)/metrics`)

// -debug-addr serves /metrics and /debug/vars on a listener of their own;
// the chat's listener serves neither, with or without it, and nothing
// there shows NATS credentials.
func TestCommandDebugAddr(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		c := startCommand(t, "-debug-addr 127.0.0.1:0")
		addr := c.Listening(t)
		m := debugLine.FindStringSubmatch(c.Stderr.String()) // said before listening
		if m == nil {
			t.Fatalf("no debug address in the log:\n%s", c.Stderr)
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
		if _, vars := testkit.Get(t, http.DefaultClient, "http://"+m[1]+"/debug/vars"); !strings.Contains(vars, `"chat"`) {
			t.Errorf("/debug/vars has no hub counters:\n%.300s", vars)
		}
		for _, path := range []string{"/metrics", "/debug/vars"} {
			if resp, _ := testkit.Get(t, http.DefaultClient, "http://"+addr+path); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s on the chat's listener: %d, want 404", path, resp.StatusCode)
			}
		}
		ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		c.Cmd.Process.Signal(syscall.SIGTERM)
		c.WaitExit(t, "SIGTERM")
	})
	t.Run("unset", func(t *testing.T) {
		c := startCommand(t, "")
		addr := c.Listening(t)
		if debugLine.MatchString(c.Stderr.String()) {
			t.Errorf("metrics served without -debug-addr:\n%s", c.Stderr)
		}
		for _, path := range []string{"/metrics", "/debug/vars"} {
			if resp, _ := testkit.Get(t, http.DefaultClient, "http://"+addr+path); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s on the chat's listener: %d, want 404", path, resp.StatusCode)
			}
		}
		c.Cmd.Process.Signal(syscall.SIGTERM)
		c.WaitExit(t, "SIGTERM")
	})
}
