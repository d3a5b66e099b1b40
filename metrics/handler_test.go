package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/metrics"
)

// Handler serves the sources' metrics beside the Go runtime's, in the
// text format, and refuses the sources New refuses.
func TestHandlerServesSourcesAndRuntime(t *testing.T) {
	h, err := metrics.Handler(metrics.Sources{Groups: map[string]*sockets.Group{"app": {}}}, nil, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`sockets_connections_open{group="app"} 0`, "go_goroutines "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page lacks %q:\n%.2000s", want, body)
		}
	}
	if _, err := metrics.Handler(metrics.Sources{}, &metrics.Options{Namespace: "9bad"}, nil); err == nil {
		t.Error("a bad namespace: no error")
	}
}
