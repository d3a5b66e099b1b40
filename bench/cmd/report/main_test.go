package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `noise
{"scenario":"fanout","server":"gorillahub","round":1,"ok":true,"metrics":[{"name":"deliveries_per_s","value":100},{"name":"lost","value":0}]}
{"scenario":"fanout","server":"gorillahub","round":2,"ok":true,"metrics":[{"name":"deliveries_per_s","value":300},{"name":"lost","value":0}]}
{"scenario":"fanout","server":"x","round":1,"ok":false,"note":"timeout","metrics":[{"name":"deliveries_per_s","value":50},{"name":"lost","value":0}]}
`
	tab := newTable()
	if err := read(tab, strings.NewReader(in), "in"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	tab.print(&out, "gorillahub")
	got := out.String()
	for _, want := range []string{
		"gorillahub  2/2      200     100–300  1.00",
		"x           0/1      50      50–50    0.25",
		"fanout: lost",
		"fanout x round 1: NOT OK: timeout",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
