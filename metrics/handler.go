package metrics

import (
	"fmt"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns an http.Handler serving, in the Prometheus text format,
// the sources' metrics (a Collector of New(src, opts)) beside the Go
// runtime's and the process's, from a registry of its own: mount it at
// /metrics, preferably on a listener apart from the public one. Errors of
// a scrape go to errorLog (nil: none).
func Handler(src Sources, opts *Options, errorLog *log.Logger) (http.Handler, error) {
	c, err := New(src, opts)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: registering a collector: %w", err)
		}
	}
	var l promhttp.Logger
	if errorLog != nil {
		l = errorLog
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: l}), nil
}
