// Package sockets is Macaron middleware that turns a WebSocket into Go
// channels. A handler written against it is one select loop:
//
//	m.Get("/ws", sockets.JSON(Message{}), func(receiver <-chan *Message, sender chan<- *Message,
//		done <-chan bool, disconnect chan<- int, errs <-chan error) {
//		for {
//			select {
//			case msg := <-receiver:
//				sender <- msg
//			case <-done:
//				return
//			}
//		}
//	})
//
// It is API-compatible with github.com/go-macaron/sockets.
//
// # Requests
//
// A request that is not a GET gets 405, one whose Origin does not match
// Options.AllowedOrigin gets 403, and a failed handshake gets 400, each with
// a short plain-text body; the next handler is not called then.
//
// # Channels
//
// The receiver delivers each message from the client, in order; the sender
// sends each value, in order. Neither is ever closed: wait on done to learn
// that the connection is gone. done delivers true once, after the network
// connection is closed, and is closed then, so every later receive returns
// at once. Sending a close code on disconnect closes the connection with that
// code (codes that RFC 6455 forbids on the wire become 1011). When the
// handler returns, the connection is closed with 1000 if it is still open.
//
// After the connection is gone, sends on the sender and on disconnect are
// discarded until the handler returns, so a handler never blocks forever.
//
// # Errors
//
// The errors channel reports what went wrong: a message that could not be
// decoded (*DecodeError) or encoded (*EncodeError), both of which leave the
// connection open; ErrMessageTooBig (closed with 1009); ErrInvalidUTF8
// (closed with 1007); and a connection lost without a normal close. A normal
// close by either side is not an error. The channel is buffered
// (Options.ErrorChannelBuffer) and never blocks the connection: errors that
// find it full are dropped and logged at LogLevelWarning. It is never closed.
//
// # Shutdown
//
// Shutdown (or Group.Shutdown) closes every open connection with 1001,
// refuses new upgrades with 503, and waits for the handlers to return.
//
// # Concurrency
//
// Each connection has three goroutines: the reader (the only one that reads
// frames), the writer (the only one that writes data frames; it also sends a
// ping every PingPeriod) and the closer (the only one that shuts the
// connection down). The middleware returns once the handler has returned and
// all three have ended. A handler that panics closes its connection with 1011;
// the panic is logged with its stack and goes no further.
package sockets

import (
	"net/http"
	"reflect"

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
	upgrader := newUpgrader(opts)
	group := opts.Group
	log := logger{opts}

	return func(ctx *macaron.Context) {
		r := ctx.Req.Request
		if r.Method != http.MethodGet {
			ctx.Resp.Header().Set("Allow", http.MethodGet)
			refuse(ctx.Resp, r, http.StatusMethodNotAllowed, errMethod)
			return
		}
		if !checkOrigin(r) {
			log.warnf("%s: origin %q refused for host %q", r.RemoteAddr, r.Header.Get("Origin"), r.Host)
			refuse(ctx.Resp, r, http.StatusForbidden, errOrigin)
			return
		}
		if !group.enter() {
			refuseDuringShutdown(ctx.Resp, r)
			return
		}
		defer group.leave()
		guard := &hijackGuard{ResponseWriter: ctx.Resp, deadlineSlack: opts.writeDeadlineSlack()}
		ws, err := upgrader.Upgrade(guard, r, nil)
		if err != nil {
			log.infof("%s: upgrade failed: %v", r.RemoteAddr, err)
			if guard.hijacked() {
				guard.failed = true
				ctx.Resp = guard
			}
			return
		}
		ctx.Resp = guard
		ctx.MapTo(guard, (*http.ResponseWriter)(nil))

		c := newConn(ws, guard.conn, r, opts)
		recv, send, inject := channels(opts.RecvChannelBuffer, opts.SendChannelBuffer)
		p := &pump[T]{c: c, codec: cd, recv: recv, send: send}
		for _, v := range inject {
			ctx.Set(v.Type(), v)
		}
		ctx.Map(c)
		ctx.Map((<-chan bool)(c.done))
		ctx.Map((chan<- int)(c.disconnect))
		ctx.Map((<-chan error)(c.errs))
		log.infof("%s: connected to %s", r.RemoteAddr, r.URL.Path)
		group.add(c)
		defer group.remove(c)
		c.serve(p.read, p.write, ctx.Next)
	}
}

// newUpgrader configures gorilla for opts. Zero buffer sizes and no pool
// make gorilla reuse the read and write buffers the HTTP server already
// allocated for the connection (and keeps alive while the handler runs), so
// a connection costs no buffer pair on top of the server's own, and a
// message written costs no buffer from a pool.
func newUpgrader(opts *Options) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout:  opts.HandshakeTimeout,
		ReadBufferSize:    opts.ReadBufferSize,
		Subprotocols:      opts.Subprotocols,
		EnableCompression: opts.EnableCompression,
		CheckOrigin:       func(*http.Request) bool { return true }, // checked before
		Error:             refuse,
	}
}

// refusal is why a request was not upgraded.
type refusal string

// Error returns the reason.
func (r refusal) Error() string { return string(r) }

const (
	errMethod refusal = "websocket upgrade needs a GET request"
	errOrigin refusal = "origin not allowed"
)

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
