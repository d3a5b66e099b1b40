package main

import (
	"expvar"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/metrics"
)

// debugHandler serves what is for the operator, not the public, on a
// listener of its own (-debug-addr): GET /metrics, the Prometheus metrics
// of the app's sockets (group "chat") and its hub (hub "chat"), beside the
// Go runtime's and the process's; and GET /debug/vars, expvar's variables
// (the command line, memory statistics, the hub's counters under "chat").
func (a *app) debugHandler() (http.Handler, error) {
	c, err := metrics.New(metrics.Sources{
		Groups: map[string]*sockets.Group{"chat": a.sockets},
		Hubs:   map[string]*sockets.Hub{"chat": a.hub},
	}, nil)
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
	mux.Handle("GET /debug/vars", expvar.Handler())
	return mux, nil
}

// serveDebug serves debugHandler on a listener of its own at addr, in the
// background; stop closes it.
func serveDebug(addr string, a *app) (stop func(), err error) {
	h, err := a.debugHandler()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chat: debug listener: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          a.log,
	}
	go srv.Serve(ln) // returns when stop closes it
	a.log.Printf("chat: metrics at http://%s/metrics, expvar at /debug/vars", ln.Addr())
	return func() { srv.Close() }, nil
}
