package sockets

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-macaron/inject"
	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// makeChannels makes one connection's receiver and sender, and the values to
// inject for them.
type makeChannels[T any] func(recvBuf, sendBuf int) (recv, send chan T, inject []reflect.Value)

// newHandler is the one middleware behind every binding.
func newHandler[T any](cd codec[T], channels makeChannels[T], options []*Options) macaron.Handler {
	opts, err := prepareOptions(options)
	if err != nil {
		panic(err)
	}
	checkOrigin := opts.CheckOrigin
	if checkOrigin == nil {
		oc, err := newOriginChecker(opts.AllowedOrigin)
		if err != nil {
			panic(err)
		}
		checkOrigin = oc.allowed
	}
	hosts, err := newHostChecker(opts.AllowedHosts)
	if err != nil {
		panic(err)
	}
	upgrader := newUpgrader(opts)
	group := opts.Group
	stats := &group.stats
	log := logger{opts}

	return func(ctx *macaron.Context) {
		r := ctx.Req.Request
		if r.Method != http.MethodGet {
			stats.refused[refusedMethod].Add(1)
			ctx.Resp.Header().Set("Allow", http.MethodGet)
			refuse(ctx.Resp, r, http.StatusMethodNotAllowed, errMethod)
			return
		}
		if hosts != nil && !hosts.allowed(r) {
			stats.refused[refusedHost].Add(1)
			log.warnf("%s: host %s refused", r.RemoteAddr, clip(r.Host))
			refuse(ctx.Resp, r, http.StatusForbidden, errHost)
			return
		}
		if !checkOrigin(r) {
			stats.refused[refusedOrigin].Add(1)
			log.warnf("%s: origin %s refused for host %s", r.RemoteAddr, clip(r.Header.Get("Origin")), clip(r.Host))
			refuse(ctx.Resp, r, http.StatusForbidden, errOrigin)
			return
		}
		client := opts.ClientAddr(r)
		if err := group.enter(client, opts.MaxConnections, opts.MaxConnectionsPerClient); err != nil {
			if err == errShutdown {
				stats.refused[refusedShutdown].Add(1)
			} else {
				stats.refused[refusedCapacity].Add(1)
				log.warnf("%s: refused: %v (client %s)", r.RemoteAddr, err, clip(client))
			}
			refuseUnavailable(ctx.Resp, r, err)
			return
		}
		defer group.leave(client)
		guard := &hijackGuard{ResponseWriter: ctx.Resp}
		ws, err := upgrader.Upgrade(guard, r, nil)
		if err != nil {
			stats.refused[refusedHandshake].Add(1)
			log.infof("%s: upgrade failed: %s", r.RemoteAddr, clip(err.Error()))
			if guard.hijacked() {
				guard.failed = true
				ctx.Resp = guard
			}
			return
		}
		ctx.Resp = guard
		guard.releaseServerBuffers()
		// What the next handlers may ask for goes into a small injector of
		// its own, in front of the request's: adding it to the request's
		// would grow that one's map for the socket's life.
		values := inject.New()
		values.SetParent(ctx.Injector)
		ctx.Injector = values
		ctx.MapTo(guard, (*http.ResponseWriter)(nil))

		deflate := opts.EnableCompression && offersDeflate(r)
		guard.conn.check = newFrameCheck(opts.MaxMessageSize, deflate)
		guard.conn.writeWait = opts.WriteWait
		c := newConn(ws, guard.conn, r, opts)
		c.deflate = deflate
		recv, send, inject := channels(opts.RecvChannelBuffer, opts.SendChannelBuffer)
		p := &pump[T]{c: c, codec: cd, recv: recv, send: send}
		for _, v := range inject {
			ctx.Set(v.Type(), v)
		}
		ctx.Map(c)
		ctx.Map((<-chan bool)(c.done))
		ctx.Map((chan<- int)(c.disconnect))
		ctx.Map((<-chan error)(c.errs))
		stats.accepted.Add(1)
		log.infof("%s: connected to %s", r.RemoteAddr, clip(r.URL.Path))
		group.add(c)
		defer group.remove(c)
		c.serve(p.read, p.write, ctx.Next)
	}
}

// newUpgrader configures gorilla for opts. Its reader buffer is small
// (input is staged by netConn, only while bytes are waiting) and its write
// buffers come from a pool for the time of a write, so an idle connection
// holds neither; the HTTP server's two 4 KiB buffers are let go after the
// handshake (hijackGuard.releaseServerBuffers).
func newUpgrader(opts *Options) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout:  opts.HandshakeTimeout,
		ReadBufferSize:    opts.ReadBufferSize,
		WriteBufferPool:   &writeBuffers,
		Subprotocols:      opts.Subprotocols,
		EnableCompression: opts.EnableCompression,
		CheckOrigin:       func(*http.Request) bool { return true }, // checked before
		Error:             refuse,
	}
}

// writeBuffers lend gorilla a buffer for each message it writes.
var writeBuffers sync.Pool

// refuse answers a request that cannot be upgraded, in plain text.
func refuse(w http.ResponseWriter, r *http.Request, status int, reason error) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusBadRequest {
		h.Set("Sec-WebSocket-Version", "13")
	}
	w.WriteHeader(status)
	w.Write([]byte(http.StatusText(status) + ": " + reason.Error() + "\n"))
}

// hijackGuard stands in for Macaron's response writer during an upgrade.
// Hijack hands gorilla a netConn; once hijacked, the guard discards every
// write, so that nothing (a next handler's return value, a recovery
// middleware) reaches the raw connection.
type hijackGuard struct {
	macaron.ResponseWriter
	conn *netConn
	brw  *bufio.ReadWriter // the HTTP server's buffers, which Hijack returned
	// failed is set when the upgrade failed after gorilla took the
	// connection over: the chain must stop, as after any refusal.
	failed bool
}

// Hijack takes over the connection and wraps it in a netConn.
func (g *hijackGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := g.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("sockets: the ResponseWriter does not implement http.Hijacker")
	}
	nc, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	g.conn = newNetConn(nc)
	g.brw = brw
	return g.conn, brw, nil
}

// releaseServerBuffers lets the HTTP server's read and write buffers go
// once gorilla has upgraded the connection without keeping them (it has
// its own reader buffer and a pool of write buffers). net/http keeps its
// connection, and so those buffers, reachable until the handler returns,
// but never touches a hijacked connection's buffers again.
func (g *hijackGuard) releaseServerBuffers() {
	*g.brw.Reader = bufio.Reader{}
	*g.brw.Writer = bufio.Writer{}
	g.brw = nil
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

// offersDeflate reports whether the client offers permessage-deflate, which
// gorilla then accepts when Options.EnableCompression is set.
func offersDeflate(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Extensions") {
		for _, ext := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.TrimSpace(name) == "permessage-deflate" {
				return true
			}
		}
	}
	return false
}
