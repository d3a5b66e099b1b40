package load

import (
	"testing"
	"time"
)

func TestMsgRoundTrip(t *testing.T) {
	b := appendMsg(nil, 'm', 1234, 987654321*time.Nanosecond, 64)
	if len(b) != 64 {
		t.Fatalf("len = %d, want 64: %q", len(b), b)
	}
	kind, seq, ts, ok := parseMsg(b)
	if !ok || kind != 'm' || seq != 1234 || ts != 987654321 {
		t.Fatalf("parseMsg(%q) = %c %d %d %v", b, kind, seq, ts, ok)
	}
	for _, bad := range []string{"", "m", "m:", "m:1", "m:1:", "m::1:", "m:1:2x", "hello world"} {
		if _, _, _, ok := parseMsg([]byte(bad)); ok {
			t.Errorf("parseMsg(%q) ok", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	s := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(s, 50); p != 5 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(s, 99); p != 10 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("empty p50 = %d", p)
	}
}

func TestSourceIP(t *testing.T) {
	for i, want := range map[int]string{0: "127.0.0.2", 31: "127.0.0.2", 32: "127.0.0.3", 32 * 300: "127.0.1.46"} {
		if got := SourceIP(i, 32).String(); got != want {
			t.Errorf("SourceIP(%d, 32) = %s, want %s", i, got, want)
		}
	}
}
