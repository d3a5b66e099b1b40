package sockets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// NewServer returns an http.Server for h with the limits a public server
// of websockets needs, where http.Server's zero values have none: 10 s to
// send a request's headers (64 KiB at most), 30 s to read a request and
// to write its answer, and idle keep-alive connections closed after 2
// minutes, so that slowloris clients cannot keep connections open. An
// upgrade clears the read and write deadlines: a socket's own are
// Options.PongWait and Options.WriteWait. Change the fields before serving
// if they do not suit.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Serve serves srv on ln until ctx is done, then shuts down within grace:
// the sockets of g (nil: DefaultGroup) get 1001 (going away) and new
// upgrades 503, then srv stops accepting and waits for the plain requests
// (hijacked connections are not its any more: that is why the sockets go
// first). It returns srv.Serve's error if serving failed, or the first
// error of the shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, g *Group, grace time.Duration) error {
	if g == nil {
		g = DefaultGroup
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("sockets: serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := g.Shutdown(sctx)
	if herr := srv.Shutdown(sctx); err == nil {
		err = herr
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
