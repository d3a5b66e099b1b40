package load

import (
	"context"
	"time"
)

// WaitDrain waits, polling every 5 ms, until done() reaches want, ctx ends,
// limit passes, or progress() has not changed for stall: how a run waits
// for the last of what it sent to arrive without waiting for what never
// will.
func WaitDrain(ctx context.Context, want int64, done, progress func() int64, limit, stall time.Duration) {
	deadline := time.After(limit)
	last, lastAt := progress(), time.Now()
	for done() < want {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-time.After(5 * time.Millisecond):
		}
		if p := progress(); p != last {
			last, lastAt = p, time.Now()
		} else if time.Since(lastAt) > stall {
			return
		}
	}
}
