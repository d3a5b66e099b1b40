//go:build !race

package main

import "time"

// isolationBound is how late another viewer's line may arrive in
// TestCostlyFilterDoesNotDelayOthers: 500 ms, as the issue asks.
const isolationBound = 500 * time.Millisecond
