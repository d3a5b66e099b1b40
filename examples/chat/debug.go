package main

import (
	"context"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/metrics"
)

// serveDebug serves debugHandler on a listener of its own at addr
// (-debug-addr), in the background, until ctx is done.
func (a *app) serveDebug(ctx context.Context, addr string) error {
	h, err := a.debugHandler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("chat: debug listener: %w", err)
	}
	a.log.Printf("chat: metrics at http://%s/metrics, expvar at /debug/vars", ln.Addr())
	go sockets.Serve(ctx, sockets.NewServer(h), ln, &sockets.Group{}, time.Second)
	return nil
}

// debugHandler serves what is for the operator, not the public: GET
// /metrics, the Prometheus metrics of the app's sockets and hub ("chat"),
// the Go runtime's and the process's; GET /debug/vars, expvar's variables.
func (a *app) debugHandler() (http.Handler, error) {
	m, err := metrics.Handler(metrics.Sources{
		Groups: map[string]*sockets.Group{"chat": a.sockets},
		Hubs:   map[string]*sockets.Hub{"chat": a.hub},
	}, nil, a.log)
	if err != nil {
		return nil, fmt.Errorf("chat: metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	mux.Handle("GET /debug/vars", expvar.Handler())
	return mux, nil
}
