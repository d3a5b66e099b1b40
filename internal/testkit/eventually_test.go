package testkit

import (
	"testing"
	"time"
)

func TestPollUntilTrue(t *testing.T) {
	calls := 0
	if _, ok := poll(Wait, func() bool { calls++; return calls == 3 }); !ok || calls != 3 {
		t.Errorf("poll: ok %v after %d calls, want true after 3", ok, calls)
	}
}

func TestPollGivesUp(t *testing.T) {
	const within = 100 * time.Millisecond
	calls := 0
	waited, ok := poll(within, func() bool { calls++; return false })
	if ok {
		t.Fatal("poll of a condition that never holds returned true")
	}
	if waited < within || waited > within+time.Second {
		t.Errorf("poll waited %v, want just over %v", waited, within)
	}
	// Pauses of 1, 2, 4, 8, 16 and 32 ms fit in 100 ms: some 7 calls, fewer
	// on a loaded machine, but more than 100 ms / maxPause.
	if calls < 4 {
		t.Errorf("poll called the condition %d times in %v", calls, within)
	}
}
