//go:build race

package logline

import "time"

// lineTimeBound is how long TestFilterLineBudget lets one costly line take:
// the race detector makes matching several times slower, so the bound
// without it, 100 ms, is checked by the run without -race.
const lineTimeBound = 500 * time.Millisecond
