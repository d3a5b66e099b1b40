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
