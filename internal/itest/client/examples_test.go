package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesUseTheClient: the example apps' pages talk to their server
// through sockets.js alone; none opens a WebSocket of its own.
func TestExamplesUseTheClient(t *testing.T) {
	for _, app := range []string{"chat", "logstream"} {
		scripts, err := filepath.Glob(filepath.Join("..", "..", "..", "examples", app, "static", "*.js"))
		if err != nil || len(scripts) == 0 {
			t.Fatalf("%s: no page scripts (%v)", app, err)
		}
		clients := 0
		for _, path := range scripts {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "WebSocket") {
				t.Errorf("%s uses WebSocket itself", path)
			}
			clients += strings.Count(string(b), "new Sockets(")
		}
		if clients == 0 {
			t.Errorf("%s: no page script makes a Sockets client", app)
		}
	}
}
