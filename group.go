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
	mu       sync.Mutex
	conns    map[*Conn]struct{}
	active   int           // middleware invocations from before the upgrade to their return
	shutdown bool          // new upgrades are refused
	drained  chan struct{} // closed when active drops to 0 during shutdown
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

// enter counts an upgrade about to begin, so that a Shutdown from now on
// waits for it; it reports false, counting nothing, once shutdown has
// begun. Every true is followed by one leave.
func (g *Group) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdown {
		return false
	}
	g.active++
	return true
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

// remove forgets c once its handler returned and its goroutines ended.
func (g *Group) remove(c *Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, c)
}

// leave ends what enter began: the upgrade failed, or the connection is
// over.
func (g *Group) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if g.active == 0 && g.drained != nil {
		select {
		case <-g.drained:
		default:
			close(g.drained)
		}
	}
}

// refuseDuringShutdown answers 503 while the group shuts down.
func refuseDuringShutdown(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	refuse(w, r, http.StatusServiceUnavailable, errShutdown)
}
