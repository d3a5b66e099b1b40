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
// It is API-compatible with github.com/go-macaron/sockets: JSON, Messages
// and ByteSliceMessages bind a route's websocket to channels of *T, string
// and []byte. The next handler may ask, by type, for any of
//
//	receiver   <-chan T       each message from the client, in order
//	sender     chan<- T       each value becomes one message, in order
//	done       <-chan bool    true once the connection is gone, then closed
//	disconnect chan<- int     send a close code to close the connection
//	errors     <-chan error   what went wrong
//	conn       *sockets.Conn  the connection's handle
//
// # Requests
//
// A request that is not a GET gets 405, one whose Host is not one of
// Options.AllowedHosts (when set: the guard against DNS rebinding) or
// whose Origin does not match Options.AllowedOrigin gets 403, one past
// Options.MaxConnections or MaxConnectionsPerClient gets 503 with
// Retry-After, and a failed handshake gets 400, each with a short
// plain-text body; the next handler is not called then. Handlers after the
// binding all run, in order; the one that keeps the socket returns when
// done fires. Group.Stats counts each refusal by its reason. NewServer
// returns an http.Server with the timeouts a public server needs.
//
// # Limits
//
// Options bound what a client can make the server hold: the size of a
// message (MaxMessageSize), the messages it may send per second
// (MessageRate: a token bucket in the reader, with no timer), the frames
// and bytes waiting for it in its Hub queue (HubQueueSize, HubQueueBytes;
// a full queue is the Hub's SlowClientPolicy), and its connections
// (MaxConnections, MaxConnectionsPerClient). The message rate, the
// connection caps and AllowedHosts are off by default, as in
// go-macaron/sockets; the example apps turn them on. What of a client's
// values reaches the log is cut to a few hundred bytes, with its length.
//
// # Channels
//
// Neither the receiver nor the sender is ever closed: wait on done to learn
// that the connection is gone. done delivers true once, after the network
// connection is closed, and is closed then, so every later receive returns
// at once. Sending a close code on disconnect closes the connection with
// that code (codes that RFC 6455 keeps off the wire become 1011). When the
// handler returns, the connection is closed with 1000 if it is still open;
// when it panics, with 1011, and the panic is logged with its stack. After
// the connection is gone, sends on the sender and on disconnect are
// discarded until the handler returns, so a handler never blocks forever.
//
// # Errors
//
// The errors channel reports a message that could not be decoded
// (*DecodeError) or encoded (*EncodeError), both of which leave the
// connection open, a message over MessageRate (ErrRateLimited: dropped,
// unless RateLimitPolicy is CloseOverRate, which closes with 1008), and an
// end that was a fault, as a *CloseError: a message over MaxMessageSize (ErrMessageTooBig, closed with 1009), text that is
// not UTF-8 (ErrInvalidUTF8, 1007, found as soon as the bytes so far cannot
// be UTF-8), a frame that breaks RFC 6455 (ErrProtocol, 1002), a close
// code from the client other than 1000, 1001 or none, silence past
// PongWait, a write that timed out, a connection lost without a close
// frame. errors.Is and errors.As see through a *CloseError to its fault. A
// normal close by either side is not an error. The channel is buffered
// (Options.ErrorChannelBuffer) and never blocks the connection: errors that
// find it full are dropped and logged. It is never closed.
// Conn.CloseError says how any connection ended, once done has fired.
//
// # How a connection runs
//
// Three goroutines serve a connection while the handler runs on the HTTP
// server's goroutine: the reader, the only one that reads frames; the
// writer, the only one that writes them (the handler's values, frames from
// a Hub or Conn.Send, pings, pongs and the close frame); and the closer,
// the only one that closes the network connection. The connection ends at
// the first reason to end, whoever finds it: the handler returns or sends
// on disconnect, Conn.Close is called (by a Hub or Shutdown too), the
// client sends a close frame, breaks the protocol, goes silent or away, or
// a write fails. That closes one channel, stop, and from then on no read
// or write on the network connection may take longer than the close grace
// (2s, or WriteWait if shorter). The writer writes what the handler had
// sent and the close frame (the client's own code back, when it began; a
// reply the handler sends at once to the client's last message goes
// first) and stops; the reader reads the client's answer; the closer then
// closes the network connection, records how it ended, runs the OnClose
// hooks and fires done. The middleware returns once the handler and the
// three goroutines have.
//
// Frames are checked before gorilla/websocket reads them, so that a fault
// is answered by the writer, after the frames the handler had already
// sent, rather than by gorilla at once from the reader.
//
// # Shutdown
//
// Shutdown (or Group.Shutdown) closes every open connection with 1001,
// refuses new upgrades with 503, and waits for the handlers to return.
package sockets
