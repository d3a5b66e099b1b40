package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when the tests leave goroutines behind: every
// connection's handler and goroutines must end once its client is gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
