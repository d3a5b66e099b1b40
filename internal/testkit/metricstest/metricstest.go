// Package metricstest scrapes a metrics collector as Prometheus would, for
// the tests of package metrics: those in the library's module and those
// that need a NATS server (internal/itest/metrics).
package metricstest

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/metrics"
)

// Scraper gathers a Collector's metrics from a pedantic registry, which
// also checks them against what Describe announced.
type Scraper struct {
	t   *testing.T
	reg *prometheus.Registry
}

// New is a Scraper of metrics.New(src, nil).
func New(t *testing.T, src metrics.Sources) *Scraper {
	t.Helper()
	c, err := metrics.New(src, nil)
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return &Scraper{t: t, reg: reg}
}

// Scrape returns every sample now, by name{label="value",...} with the
// labels sorted; a histogram gives NAME_bucket{...,le="..."}, NAME_count
// and NAME_sum.
func (s *Scraper) Scrape() Samples {
	s.t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		s.t.Fatalf("Gather: %v", err)
	}
	return flatten(families)
}

func flatten(families []*dto.MetricFamily) Samples {
	out := Samples{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(name string, extra ...string) string {
				all := append(append([]string(nil), labels...), extra...)
				sort.Strings(all)
				return name + "{" + strings.Join(all, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(f.GetName())] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(f.GetName())] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key(f.GetName()+"_count")] = float64(h.GetSampleCount())
				out[key(f.GetName()+"_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := fmt.Sprint(b.GetUpperBound())
					out[key(f.GetName()+"_bucket", fmt.Sprintf("le=%q", le))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// Samples are scraped values by name and labels; a missing one reads as
// NaN.
type Samples map[string]float64

// Get is the value of key, NaN if there is none.
func (s Samples) Get(key string) float64 {
	if v, ok := s[key]; ok {
		return v
	}
	return math.NaN()
}

// WaitFor polls until key reads want, failing the test with the last value
// after testkit.Wait.
func (s *Scraper) WaitFor(key string, want float64) Samples {
	s.t.Helper()
	var last Samples
	testkit.Eventually(s.t, fmt.Sprintf("%s = %v", key, want), func() bool {
		last = s.Scrape()
		return last.Get(key) == want
	})
	return last
}

// Expect fails the test for each key of want whose value in got differs.
func Expect(t *testing.T, got Samples, want map[string]float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := got.Get(k); v != want[k] {
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
}
