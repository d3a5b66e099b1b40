//go:build race

package main

import "time"

// isolationBound is how late another viewer's line may arrive in
// TestCostlyFilterDoesNotDelayOthers. The race detector makes matching
// several times slower, and the costly viewers' goroutines take both
// cores: the 500 ms is checked by the run without -race, which
// .ci/run makes too.
const isolationBound = 1500 * time.Millisecond
