package sockets

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"time"

	"gopkg.in/macaron.v1"
)

// hijackGuard stands in for Macaron's response writer during an upgrade.
// Hijack hands gorilla a batchConn; once hijacked, the guard discards every
// write, so that nothing (a next handler's return value, a recovery
// middleware) reaches the raw connection.
type hijackGuard struct {
	macaron.ResponseWriter
	conn *batchConn
	// failed is set when the upgrade failed after gorilla took the
	// connection over: the chain must stop, as after any refusal.
	failed bool
	// deadlineSlack is passed to the batchConn.
	deadlineSlack time.Duration
}

var errHijacked = errors.New("sockets: response written after the connection was upgraded")

// Hijack takes over the connection and wraps it in a batchConn.
func (g *hijackGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := g.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("sockets: the ResponseWriter does not implement http.Hijacker")
	}
	nc, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	g.conn = newBatchConn(nc, g.deadlineSlack)
	return g.conn, brw, nil
}

func (g *hijackGuard) hijacked() bool { return g.conn != nil }

// Write discards p after the hijack.
func (g *hijackGuard) Write(p []byte) (int, error) {
	if g.hijacked() {
		return 0, errHijacked
	}
	return g.ResponseWriter.Write(p)
}

// WriteHeader is ignored after the hijack.
func (g *hijackGuard) WriteHeader(status int) {
	if !g.hijacked() {
		g.ResponseWriter.WriteHeader(status)
	}
}

// Written reports what the wrapped writer says, which a successful upgrade
// does not change: Macaron goes on through the handlers after the binding,
// in order, as it does with go-macaron/sockets. After an upgrade that
// failed once the connection was taken over, it reports true, which ends
// the chain as a refusal does.
func (g *hijackGuard) Written() bool {
	return g.failed || g.ResponseWriter.Written()
}

// Status reports 101 after the hijack.
func (g *hijackGuard) Status() int {
	if g.hijacked() {
		return http.StatusSwitchingProtocols
	}
	return g.ResponseWriter.Status()
}

// Flush is a no-op after the hijack.
func (g *hijackGuard) Flush() {
	if !g.hijacked() {
		g.ResponseWriter.Flush()
	}
}
