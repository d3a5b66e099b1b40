package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/child"
)

// TestRun builds the viewer and runs both scenarios small: the filters'
// predictions agree with the server (every viewer gets exactly the lines
// its filter passes, once, in order), and the memory scenario reads the
// server's RSS while non-readers are connected again and again.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the viewer")
	}
	bin, err := child.Build(t.TempDir(), "./logstream")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{bin: bin, viewers: 24, filtered: 20, size: 100, rates: []float64{300, 0}, step: time.Second,
		drain: 5 * time.Second, window: 200, maxLines: 100_000, perAddr: 16,
		memViewers: 2, memLine: 16 << 10, memTime: 2 * time.Second, memWindow: 8, memReconnect: true}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := throughput(ctx, cfg)
	if err != nil {
		t.Fatalf("throughput: %v", err)
	}
	if len(res) != 2 {
		t.Fatalf("throughput: %d results, want 2", len(res))
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("not ok: %s", r.Human())
		}
		if d, e := r.Params["deliveries"].(int64), r.Params["expected_deliveries"].(int64); d != e || d == 0 {
			t.Errorf("%d deliveries, want %d: %s", d, e, r.Human())
		}
		for _, name := range []string{"lost", "skipped", "dup", "invalid", "viewers_gone", "gaps"} {
			if v, ok := r.Get(name); !ok || v != 0 {
				t.Errorf("%s = %v (present %v), want 0: %s", name, v, ok, r.Human())
			}
		}
	}

	m, err := memory(ctx, cfg)
	if err != nil {
		t.Fatalf("memory: %v", err)
	}
	if !m.OK {
		t.Errorf("memory: not ok: %s", m.Human())
	}
	if v, _ := m.Get("rss_peak_mb"); v <= 0 {
		t.Errorf("memory: no RSS read: %s", m.Human())
	}
	if v, _ := m.Get("probe_lines_per_s"); v <= 0 {
		t.Errorf("memory: the probe got nothing: %s", m.Human())
	}
}

func TestLines(t *testing.T) {
	b := appendLine(nil, 1234, 5678*time.Nanosecond, 2, tagWords(1234), 40)
	if want := "WARN 1234:5678:2: tag04 " + strings.Repeat("x", 15) + "\n"; string(b) != want {
		t.Fatalf("appendLine = %q, want %q", b, want)
	}
	frame := []byte(`{"file":"app.log","gen":"abc-0","offset":99,"line":"` + strings.TrimSuffix(string(b), "\n") + `","level":"warn"}`)
	f := parseFrame(frame)
	if f.kind != frameLine || f.seq != 1234 || f.ts != 5678 || f.step != 2 {
		t.Errorf("parseFrame = %+v", f)
	}
	if got := framePos(frame); got != "abc-0:99" {
		t.Errorf("framePos = %q, want abc-0:99", got)
	}
	if f := parseFrame([]byte(`{"error":"behind","skipped":42}`)); f.kind != frameBehind || f.skipped != 42 {
		t.Errorf("behind: %+v", f)
	}
	if f := parseFrame([]byte(`{"error":"gap"}`)); f.kind != frameGap {
		t.Errorf("gap: %+v", f)
	}
	if f := parseFrame([]byte(`{"line":"INFO 12:x"}`)); f.kind != frameBad {
		t.Errorf("bad line: %+v", f)
	}
	// Every filter passes some lines, and levels are spread as said.
	for i, f := range filters {
		n := 0
		for seq := range 1000 {
			if f.match(seq) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("filter %d passes no line", i)
		}
	}
}
