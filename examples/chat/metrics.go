package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/metrics"
	"github.com/macaron-contrib/sockets/natsbroker"
)

// metricsHandler serves GET /metrics: the Prometheus metrics of the app's
// sockets (group "chat"), its hub (hub "chat") and, with NATS, its broker
// (broker "chat"), beside the Go runtime's and the process's.
func (a *app) metricsHandler() (http.Handler, error) {
	src := metrics.Sources{
		Groups: map[string]*sockets.Group{"chat": a.sockets},
		Hubs:   map[string]*sockets.Hub{"chat": a.hub},
	}
	if a.nats != nil {
		src.Brokers = map[string]*natsbroker.Broker{"chat": a.nats.relay.b}
	}
	c, err := metrics.New(src, nil)
	if err != nil {
		return nil, fmt.Errorf("chat: metrics: %w", err)
	}
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("chat: registering metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: a.log}))
	return mux, nil
}

// serveMetrics serves metricsHandler on a listener of its own at addr, in
// the background; stop closes it.
func serveMetrics(addr string, a *app) (stop func(), err error) {
	h, err := a.metricsHandler()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chat: metrics listener: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          a.log,
	}
	go srv.Serve(ln) // returns when stop closes it
	a.log.Printf("chat: metrics at http://%s/metrics", ln.Addr())
	return func() { srv.Close() }, nil
}
