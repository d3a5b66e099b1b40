package metrics_test

import (
	"io"
	"log"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quietLog = log.New(io.Discard, "", 0)
