//go:build !race

package logline

import "time"

// lineTimeBound is how long TestFilterLineBudget lets one costly line take.
const lineTimeBound = 100 * time.Millisecond
