package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/metrics"
)

// TestMain fails the run when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quietLog = log.New(io.Discard, "", 0)

// scraper gathers a Collector's metrics from a pedantic registry, which
// also checks them against what Describe announced.
type scraper struct {
	t   *testing.T
	reg *prometheus.Registry
}

func newScraper(t *testing.T, src metrics.Sources) *scraper {
	t.Helper()
	c, err := metrics.New(src, nil)
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return &scraper{t: t, reg: reg}
}

// scrape returns every sample now, by name{label="value",...} with the
// labels sorted; a histogram gives NAME_bucket{...,le="..."}, NAME_count
// and NAME_sum.
func (s *scraper) scrape() samples {
	s.t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		s.t.Fatalf("Gather: %v", err)
	}
	return flatten(families)
}

func flatten(families []*dto.MetricFamily) samples {
	out := samples{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(name string, extra ...string) string {
				all := append(append([]string(nil), labels...), extra...)
				sort.Strings(all)
				return name + "{" + strings.Join(all, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(f.GetName())] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(f.GetName())] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key(f.GetName()+"_count")] = float64(h.GetSampleCount())
				out[key(f.GetName()+"_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := fmt.Sprint(b.GetUpperBound())
					out[key(f.GetName()+"_bucket", fmt.Sprintf("le=%q", le))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// samples are scraped values by name and labels; a missing one reads as
// NaN.
type samples map[string]float64

func (s samples) get(key string) float64 {
	if v, ok := s[key]; ok {
		return v
	}
	return math.NaN()
}

// waitFor polls until key reads want, failing the test with the last value
// after testkit.Wait.
func (s *scraper) waitFor(key string, want float64) samples {
	s.t.Helper()
	var last samples
	testkit.Eventually(s.t, fmt.Sprintf("%s = %v", key, want), func() bool {
		last = s.scrape()
		return last.get(key) == want
	})
	return last
}

// expect fails the test for each key of want whose value in got differs.
func expect(t *testing.T, got samples, want map[string]float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := got.get(k); v != want[k] {
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
}

// server serves m on 127.0.0.1 until the end of the test.
func server(t *testing.T, m *macaron.Macaron) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ErrorLog = quietLog
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// dial opens a WebSocket connection, closed at the end of the test.
func dial(t *testing.T, url string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testkit.Wait}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// refusedWith dials url and fails the test unless the answer is status.
func refusedWith(t *testing.T, url string, header http.Header, status int) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testkit.Wait}
	ws, resp, err := d.Dial(url, header)
	if err == nil {
		ws.Close()
		t.Fatalf("dial %s: upgraded, want %d", url, status)
	}
	if resp == nil || resp.StatusCode != status {
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d), want status %d", url, err, got, status)
	}
}

// send writes a text message, failing the test on error.
func send(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	ws.SetWriteDeadline(time.Now().Add(testkit.Wait))
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
}

// read returns the next message's payload, failing the test on error.
func read(t *testing.T, ws *websocket.Conn) []byte {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	_, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

// readClose reads until the close frame and returns its code.
func readClose(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		return ce.Code
	}
}
