package sockets

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// A Group tracks open connections so that they can be shut down together.
// Every binding belongs to DefaultGroup unless Options.Group says otherwise.
type Group struct {
	mu        sync.Mutex
	conns     map[*Conn]struct{}
	active    int            // middleware invocations from before the upgrade to their return
	perClient map[string]int // active, per client (Options.ClientAddr)
	shutdown  bool           // new upgrades are refused
	drained   chan struct{}  // closed when active drops to 0 during shutdown

	stats groupStats
}

// DefaultGroup is the group of every binding without Options.Group.
var DefaultGroup = &Group{}

// Shutdown shuts down DefaultGroup; see Group.Shutdown. It fits
// http.Server.RegisterOnShutdown:
//
//	srv.RegisterOnShutdown(func() { sockets.Shutdown(ctx) })
func Shutdown(ctx context.Context) error {
	return DefaultGroup.Shutdown(ctx)
}

// Shutdown closes every open connection of the group with 1001 (going
// away), refuses new upgrades with 503 from now on, and waits until every
// handler has returned and every connection has ended, or ctx is done.
func (g *Group) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.shutdown = true
	if g.drained == nil {
		g.drained = make(chan struct{})
		if g.active == 0 {
			close(g.drained)
		}
	}
	drained := g.drained
	for c := range g.conns {
		c.Close(websocket.CloseGoingAway, "server shutdown")
	}
	g.mu.Unlock()

	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sockets: shutdown with %d connections still open: %w", g.Len(), ctx.Err())
	}
}

// Len returns the number of connections open in the group, counting those
// being upgraded.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active
}

// enter counts an upgrade about to begin for client, so that a Shutdown
// from now on waits for it. It refuses, counting nothing, during shutdown
// (errShutdown) and past a cap (errCapacity): max connections in all, or
// perClient from client (0: no cap). Every nil is followed by one leave.
func (g *Group) enter(client string, max, perClient int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.shutdown:
		return errShutdown
	case max > 0 && g.active >= max:
		return errCapacity
	case perClient > 0 && g.perClient[client] >= perClient:
		return errCapacity
	}
	g.active++
	if g.perClient == nil {
		g.perClient = make(map[string]int)
	}
	g.perClient[client]++
	return nil
}

// add registers c, upgraded after enter; during shutdown, c is asked to
// close at once.
func (g *Group) add(c *Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns == nil {
		g.conns = make(map[*Conn]struct{})
	}
	g.conns[c] = struct{}{}
	if g.shutdown {
		c.Close(websocket.CloseGoingAway, "server shutdown")
	}
}

// remove forgets c once its handler returned and its goroutines ended,
// adding its counters to the group's totals.
func (g *Group) remove(c *Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, c)
	g.stats.ended(c, c.codeSent, c.codeReceived)
}

// leave ends what enter began for client: the upgrade failed, or the
// connection is over.
func (g *Group) leave(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if n, ok := g.perClient[client]; ok {
		if n <= 1 {
			delete(g.perClient, client)
		} else {
			g.perClient[client] = n - 1
		}
	}
	if g.active == 0 && g.drained != nil {
		select {
		case <-g.drained:
		default:
			close(g.drained)
		}
	}
}

// refuseUnavailable answers 503 during shutdown or past a cap.
func refuseUnavailable(w http.ResponseWriter, r *http.Request, why error) {
	w.Header().Set("Retry-After", "1")
	refuse(w, r, http.StatusServiceUnavailable, why)
}
