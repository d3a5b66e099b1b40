package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `noise
{"scenario":"fanout","server":"gorillahub","round":1,"ok":true,"metrics":[{"name":"deliveries_per_s","value":100},{"name":"lost","value":0}]}
{"scenario":"fanout","server":"gorillahub","round":2,"ok":true,"metrics":[{"name":"deliveries_per_s","value":300},{"name":"lost","value":0}]}
{"scenario":"fanout","server":"x","round":1,"ok":true,"metrics":[{"name":"deliveries_per_s","value":50},{"name":"lost","value":0}]}
`
	got := render(t, in)
	for _, want := range []string{
		"gorillahub  2/2      200     100–300  1.00",
		"x           1/1      50      50–50    0.25",
		"fanout: lost",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestNotOKLeftOut: a run marked NOT OK counts in "runs ok" and in the
// notes but not in the median and min–max; a metric that is 0 only in the
// OK runs is not "0 in every run".
func TestNotOKLeftOut(t *testing.T) {
	in := `{"scenario":"fanout","server":"gorillahub","round":1,"ok":true,"metrics":[{"name":"deliveries_per_s","value":100},{"name":"lost","value":0},{"name":"dup","value":0}]}
{"scenario":"fanout","server":"gorillahub","round":2,"ok":true,"metrics":[{"name":"deliveries_per_s","value":300},{"name":"lost","value":0},{"name":"dup","value":0}]}
{"scenario":"fanout","server":"gorillahub","round":3,"ok":false,"note":"stalled","metrics":[{"name":"deliveries_per_s","value":1},{"name":"lost","value":7},{"name":"dup","value":0}]}
{"scenario":"fanout","server":"x","round":1,"ok":false,"note":"timeout","metrics":[{"name":"deliveries_per_s","value":50},{"name":"lost","value":3},{"name":"dup","value":0}]}
{"scenario":"fanout","server":"x","round":2,"ok":false,"note":"server did not start","metrics":[]}
`
	got := render(t, in)
	for _, want := range []string{
		"fanout    deliveries_per_s  ↑  gorillahub  2/3      200     100–300  1.00",
		"fanout    deliveries_per_s  ↑  x           0/2      –       –        n/a",
		"fanout    lost              ↓  gorillahub  2/3      0       0–0      =",
		"fanout: dup\n",
		"fanout gorillahub round 3: NOT OK: stalled",
		"fanout x round 1: NOT OK: timeout",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"1–300", "0.50", "fanout: dup, lost", "fanout: lost"} {
		if strings.Contains(got, bad) {
			t.Errorf("output has %q (a NOT OK run's number):\n%s", bad, got)
		}
	}
}

func render(t *testing.T, in string) string {
	t.Helper()
	tab := newTable()
	if err := read(tab, strings.NewReader(in), "in"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	tab.print(&out, "gorillahub")
	return out.String()
}
