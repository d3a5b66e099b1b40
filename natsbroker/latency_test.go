package natsbroker

import (
	"testing"
	"time"
)

// A duration lands in the first bucket whose bound it does not exceed; a
// bound itself belongs to its own bucket; past the last bound, the last
// bucket. Count is the buckets' sum, Sum their total.
func TestLatencyBuckets(t *testing.T) {
	bounds := LatencyBounds()
	if len(bounds) != latencyBuckets-1 {
		t.Fatalf("%d bounds for %d buckets", len(bounds), latencyBuckets)
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			t.Fatalf("bounds not increasing at %d: %v", i, bounds)
		}
	}
	bounds[0] = time.Hour // a copy: the broker's are unchanged
	if LatencyBounds()[0] != time.Microsecond {
		t.Fatal("LatencyBounds returned the broker's own array")
	}

	var l latency
	cases := []struct {
		d      time.Duration
		bucket int
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Microsecond, 0},
		{time.Microsecond + 1, 1},
		{3 * time.Microsecond, 2},
		{time.Millisecond, 9},
		{300 * time.Millisecond, 17},
		{10 * time.Second, latencyBuckets - 2},
		{time.Minute, latencyBuckets - 1},
	}
	var want Latency
	for _, c := range cases {
		before := l.snapshot().Buckets
		l.observe(c.d)
		after := l.snapshot().Buckets
		for i := range after {
			grew := after[i] - before[i]
			if (i == c.bucket) != (grew == 1) || grew > 1 {
				t.Errorf("%v: bucket %d grew by %d, want bucket %d only", c.d, i, grew, c.bucket)
			}
		}
		want.Buckets[c.bucket]++
		want.Count++
		want.Sum += max(c.d, 0)
	}
	if got := l.snapshot(); got != want {
		t.Errorf("snapshot %+v, want %+v", got, want)
	}
}
