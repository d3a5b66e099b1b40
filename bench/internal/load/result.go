// Package load holds the benchmark scenarios (fanout, echo, idle) that the
// loadgen command runs against a server speaking the benchmark protocol.
package load

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Metric is one measured number.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Result is what one scenario run reports; it marshals to one JSON line.
type Result struct {
	Scenario string         `json:"scenario"`
	Server   string         `json:"server,omitempty"`
	Round    int            `json:"round,omitempty"`
	OK       bool           `json:"ok"` // no loss, no error, finished in time
	Note     string         `json:"note,omitempty"`
	Metrics  []Metric       `json:"metrics"`
	Params   map[string]any `json:"params,omitempty"`
}

func (r *Result) add(name string, v float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: v, Unit: unit})
}

func (r *Result) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if r.Note != "" {
		r.Note += "; " + s
	} else {
		r.Note = s
	}
}

// Get returns the value of the named metric.
func (r *Result) Get(name string) (float64, bool) {
	i := slices.IndexFunc(r.Metrics, func(m Metric) bool { return m.Name == name })
	if i < 0 {
		return 0, false
	}
	return r.Metrics[i].Value, true
}

// JSON returns r as one line of JSON.
func (r *Result) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // only plain values inside
	}
	return string(b)
}

// Human returns r as one line for people, starting with "# ".
func (r *Result) Human() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s", r.Scenario)
	if r.Server != "" {
		fmt.Fprintf(&b, " %s", r.Server)
	}
	if r.Round != 0 {
		fmt.Fprintf(&b, " round %d", r.Round)
	}
	b.WriteString(":")
	for _, m := range r.Metrics {
		fmt.Fprintf(&b, " %s=%s", m.Name, FormatValue(m.Value))
		if m.Unit != "" {
			fmt.Fprintf(&b, "%s", m.Unit)
		}
	}
	if !r.OK {
		b.WriteString(" NOT OK")
	}
	if r.Note != "" {
		fmt.Fprintf(&b, " (%s)", r.Note)
	}
	return b.String()
}

// FormatValue prints v with about four significant digits.
func FormatValue(v float64) string {
	switch a := max(v, -v); {
	case v == float64(int64(v)) && a < 1e7:
		return fmt.Sprintf("%d", int64(v))
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// percentile returns the p-th percentile (0..100) of sorted, nearest rank.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// PrintRound sets the round of each result and writes it to w as a line of
// JSON and, unless jsonOnly, as a line for people after it.
func PrintRound(w io.Writer, results []*Result, round int, jsonOnly bool) {
	for _, r := range results {
		r.Round = round
		fmt.Fprintln(w, r.JSON())
		if !jsonOnly {
			fmt.Fprintln(w, r.Human())
		}
	}
}
