package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/load"
)

// TestRun builds the chat and runs it small, on one instance and on two:
// 40 members (more than the chat takes from one client address, so they
// come from two loopback addresses), one step at 20 messages a second.
// Every message reaches every other member, once, and nothing is refused.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat")
	}
	bin, err := buildChat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, instances := range []int{1, 2} {
		cfg := config{bin: bin, instances: instances, members: 40, rates: []float64{20}, step: time.Second,
			warmup: 500 * time.Millisecond, drain: 5 * time.Second, size: 64, perAddr: 32, joinConc: 8,
			joinTimeout: 20 * time.Second, room: "test"}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		res, err := run(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("%d instance(s): %v", instances, err)
		}
		if len(res) != 1 {
			t.Fatalf("%d instance(s): %d results, want 1", instances, len(res))
		}
		r := res[0]
		if !r.OK {
			t.Errorf("%d instance(s): not ok: %s", instances, r.Human())
		}
		msgs := r.Params["msgs"].(int)
		if msgs != 20 || r.Params["deliveries"].(int64) != int64(msgs*39) || r.Params["completed"].(int64) != int64(msgs) {
			t.Errorf("%d instance(s): %v messages, %v completed, %v deliveries; want 20, 20, %d: %s",
				instances, msgs, r.Params["completed"], r.Params["deliveries"], 20*39, r.Human())
		}
		if got := r.Params["hub_deliveries"].(float64); got != float64(msgs*39) {
			t.Errorf("%d instance(s): the hubs queued %v deliveries, want %d", instances, got, msgs*39)
		}
		for _, name := range []string{"lost", "dup", "echo", "invalid", "error_frames", "left", "members_gone",
			"rate_limited", "slow_disconnects", "hub_dropped", "store_errors", "history_gaps", "refused"} {
			if v, ok := r.Get(name); !ok || v != 0 {
				t.Errorf("%d instance(s): %s = %v (present %v), want 0", instances, name, v, ok)
			}
		}
	}
}

func TestFrames(t *testing.T) {
	b := appendMessage(nil, 123, 4567*time.Microsecond, 30)
	// The text is 30 bytes: "123:4567000:" and 18 x.
	if want := `{"typ":"message","text":"123:4567000:` + strings.Repeat("x", 18) + `"}`; string(b) != want {
		t.Fatalf("appendMessage = %s, want %s", b, want)
	}
	frame := []byte(`{"pos":"7-1","typ":"message","from":"m0001","text":"123:4567000:xxxxxxxxxxxxxxxxx"}`)
	typ, ok1 := field(frame, "typ")
	text, ok2 := field(frame, "text")
	if !ok1 || !ok2 || string(typ) != "message" {
		t.Fatalf("field: %q %v, %q %v", typ, ok1, text, ok2)
	}
	seq, rest, ok := load.ParseUint(text)
	ts, _, ok2 := load.ParseUint(rest)
	if !ok || !ok2 || seq != 123 || ts != 4567000 {
		t.Errorf("uintField: %d %d %v %v", seq, ts, ok, ok2)
	}
	if _, ok := field([]byte(`{"typ":"members","text":"[\"a\"]"}`), "text"); ok {
		t.Error("field read through an escape")
	}
}
