package natsbroker

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the publish latency's buckets. A
// publish to a healthy connection only copies into the client's buffer
// (microseconds); one that waits for a stalled server may last up to the
// write timeout (DefaultWriteTimeout, 5s).
var latencyBounds = [...]time.Duration{
	1 * time.Microsecond, 2500 * time.Nanosecond, 5 * time.Microsecond,
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second,
}

// latencyBuckets is the number of buckets: one per bound, and one for
// longer durations.
const latencyBuckets = len(latencyBounds) + 1

// LatencyBounds returns the upper bounds of the buckets of a Latency, in
// increasing order: from 1µs to 10s, in steps of 1, 2.5 and 5 per decade.
// The slice is a copy.
func LatencyBounds() []time.Duration {
	return append([]time.Duration(nil), latencyBounds[:]...)
}

// Latency is a histogram of durations in fixed buckets (LatencyBounds).
type Latency struct {
	// Count is the number of durations measured: the sum of Buckets.
	Count uint64 `json:"count"`
	// Sum is their total.
	Sum time.Duration `json:"sum_ns"`
	// Buckets[i] counts the durations longer than LatencyBounds()[i-1]
	// (for i > 0) and at most LatencyBounds()[i]; the last bucket counts
	// those longer than every bound. The counts are not cumulative.
	Buckets [latencyBuckets]uint64 `json:"buckets"`
}

// latency measures durations without a lock: an atomic counter per
// bucket, and one for their sum. Count is derived from the buckets, so a
// snapshot's Count always matches its buckets (its Sum may lag by the
// durations being added at that instant).
type latency struct {
	buckets [latencyBuckets]atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

// observe adds one duration.
func (l *latency) observe(d time.Duration) {
	if d < 0 {
		d = 0 // a clock that went back: monotonic readings should not
	}
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.sum.Add(int64(d))
}

// snapshot reads the histogram now.
func (l *latency) snapshot() Latency {
	var s Latency
	for i := range l.buckets {
		n := l.buckets[i].Load()
		s.Buckets[i] = n
		s.Count += n
	}
	s.Sum = time.Duration(l.sum.Load())
	return s
}
