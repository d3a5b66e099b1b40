package testkit

import (
	"testing"
	"time"
)

// maxPause is the longest pause between two polls of Eventually and
// EventuallyNoError; the first pauses are shorter, 1 ms doubling up to it.
const maxPause = 50 * time.Millisecond

// Eventually polls cond until it holds, failing the test with what and the
// time waited when it still does not after Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if waited, ok := poll(Wait, cond); !ok {
		t.Fatalf("timed out after %v waiting for %s", waited, what)
	}
}

// EventuallyNoError calls f until it returns nil, failing the test with
// what, the time waited and f's last error when it still fails after Wait.
// f may itself fail the test, for an error that retrying cannot cure.
func EventuallyNoError(t testing.TB, what string, f func() error) {
	t.Helper()
	var last error
	if waited, ok := poll(Wait, func() bool { last = f(); return last == nil }); !ok {
		t.Fatalf("timed out after %v waiting for %s: %v", waited, what, last)
	}
}

// poll calls cond until it holds (true) or, once within has passed, until
// it has failed once more (false, with the time waited to the millisecond).
func poll(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for pause := time.Millisecond; !cond(); pause = min(2*pause, maxPause) {
		if waited := time.Since(start); waited > within {
			return waited.Round(time.Millisecond), false
		}
		time.Sleep(pause)
	}
	return 0, true
}
