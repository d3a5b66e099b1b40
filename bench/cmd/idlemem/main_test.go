package main

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIdlemem builds the command and runs it small: every server's result
// is there, every connection was upgraded, and each server runs the
// goroutines per connection it is meant to (which also says the clients'
// goroutines, in their own process, are not counted).
func TestIdlemem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the harness")
	}
	bin := filepath.Join(t.TempDir(), "idlemem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 100
	cmd := exec.CommandContext(ctx, bin, "-n", "100", "-settle", "200ms", "-timeout", "40s", "-json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("idlemem: %v\n%s", err, out)
	}
	got := map[string]result{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got[r.Server] = r
	}
	for name, goroutines := range map[string]float64{"sockets": 4, "macaronbare": 1, "gorillahub": 2, "gorillahub0": 2, "gws": 1} {
		r, ok := got[name]
		if !ok {
			t.Errorf("no result for %s:\n%s", name, out)
			continue
		}
		if r.Conns != n || r.Hijacked != n {
			t.Errorf("%s: %d connections, %d upgraded; want %d", name, r.Conns, r.Hijacked, n)
		}
		if math.Abs(r.Goroutines-goroutines) > 0.02 {
			t.Errorf("%s: %.2f goroutines per connection, want %v", name, r.Goroutines, goroutines)
		}
		if r.HeapInuse < 1000 || r.StackInuse < 1000 || r.HeapAlloc < 1000 {
			t.Errorf("%s: implausible figures %+v", name, r)
		}
	}
	// gorilla with zero buffer sizes keeps net/http's 4 KB + 4 KB buffers
	// where the classic hub has its own 1 KB + 1 KB.
	if d := got["gorillahub0"].HeapAlloc - got["gorillahub"].HeapAlloc; d < 4000 {
		t.Errorf("zero buffer sizes cost %.0f B more per connection than 1 KB/1 KB; want about 6 KB", d)
	}
}
