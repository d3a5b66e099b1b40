// Package natsbroker links the sockets.Hub of several server instances
// through a NATS server, so that a message published in a room on one
// instance reaches the room's members on every instance.
//
//	b, err := natsbroker.Connect("nats://127.0.0.1:4222", natsbroker.Options{})
//	if err != nil { ... }
//	hub, err := sockets.NewHub(&sockets.HubOptions{Broker: b})
//	if err != nil { ... }
//	defer hub.Close() // closes b, and the NATS connection Connect made
//
// # Subjects
//
// Every subject starts with Options.Prefix (default "sockets.rooms"):
//
//	PREFIX.all           messages for every room (Envelope.Room == "")
//	PREFIX.room.TOKEN    messages for one room
//	PREFIX.hroom.DIGEST  messages for one room with a long name
//
// Room names may contain any bytes, including the '.', '*', '>' and
// whitespace that NATS gives a meaning to, so a name is never used as it is:
// TOKEN is the name encoded with unpadded base64url (RFC 4648 §5, alphabet
// A-Z a-z 0-9 - _), one valid subject token that decodes back to the name.
// Names longer than MaxPlainRoomLen bytes would make subjects that press on
// the server's control-line limit; they use DIGEST instead, the unpadded
// base64url of the name's SHA-256. RoomSubject computes a subject, for
// monitoring with NATS tools.
//
// An instance subscribes to PREFIX.all when its hub is made, to a room's
// subject when the room gets its first local member (Hub calls Subscribe)
// and unsubscribes when the last one leaves (Unsubscribe), so the NATS
// server routes a room's traffic only to the instances that have members in
// it.
//
// # Wire format
//
// The NATS message body is the Envelope's Data, byte for byte: payloads are
// neither decoded nor re-encoded. The metadata travels in NATS headers:
// HeaderInstance carries the publishing instance's id and HeaderType the
// WebSocket message type (1 text, 2 binary) in decimal. The room is the
// subject. A message without a valid type header is dropped and counted in
// Stats.Malformed.
//
// An instance never delivers its own messages a second time (the hub has
// already delivered them locally): a message whose instance header is this
// broker's id is skipped and counted in Stats.SkippedOwn. A connection made
// by Connect also asks the server not to echo (NoEcho), so those messages do
// not even come back; a connection passed to New may be shared, and relies
// on the header.
//
// # Delivery semantics
//
// Core NATS delivers at most once, and so does this broker:
//
//   - Order is kept per publisher and room: messages that one instance
//     publishes to one room reach every other instance in the order they
//     were published. Messages from different instances may interleave
//     differently on different instances.
//   - While the connection to NATS is down, the client reconnects forever
//     (Connect sets MaxReconnects(-1)) and local delivery goes on as usual,
//     since the hub delivers locally before calling Publish. Publish does
//     not block: the NATS client keeps what is published into a bounded
//     reconnect buffer (Options.ReconnectBufSize) and sends it after the
//     reconnect. Once the buffer is full, or the connection closed, Publish
//     returns an error and the message is counted in Stats.PublishFailed and
//     logged: it will never reach the other instances.
//   - A NATS server that stops reading while the connection stays up (a
//     paused or overloaded server, a half-open path) blocks the client's
//     writes, and nats.go writes holding its connection's lock. A broker
//     from Connect gives such a write up after DefaultWriteTimeout (5s),
//     counts the connection as lost and reconnects, so Publish, Subscribe
//     and Unsubscribe (and so Hub.Publish, a Join to a new room and the
//     last leave) wait that long at most, once per stall. The broker's own
//     lock is never held while calling the client, so Stats and the
//     delivery of received messages never wait for the server. A
//     connection given to New keeps its own nats.FlusherTimeout (nats.go's
//     default is a minute).
//   - Text messages must be valid UTF-8: Publish refuses others, and ones
//     received from other instances are dropped and counted in
//     Stats.Malformed (as text frames they would make browsers fail the
//     connection).
//   - Stats.Published counts messages handed to the NATS client, not
//     messages delivered. What can still be lost: messages written to a
//     connection that had died before the client noticed (Connect pings
//     every 10s so that a silent half-open connection is noticed within
//     about 30s); buffered messages sent after the reconnect to a server
//     that other instances have not reconnected to yet (a restarted server
//     has no subscriptions until each client comes back); and every message
//     other instances published while this one was disconnected, since core
//     NATS keeps no history. Comparing one instance's Published with the
//     others' Received tells how much was lost.
//   - A subscription whose messages arrive faster than the hub takes them
//     loses messages beyond Options.ReceiveBuffer (NATS calls that a slow
//     consumer); they are counted in Stats.Dropped.
//   - Stats.PublishLatency is a histogram of how long each call to the
//     NATS client's publish took (a few atomic counters, no lock): a stalled
//     server shows there as calls of up to the write timeout.
//
// JetStream is not used. It would add persistence and replay, but a chat or
// fan-out hub sends live frames to the connections that are there now: a
// frame replayed after an outage reaches clients that may have reconnected
// and reloaded in between, and history, catch-up and presence need the
// application's own notion of what a client has seen, which the hub does
// not have. Core NATS keeps the dependency and the operations small (no
// streams, consumers or storage to configure), and at-most-once matches the
// hub's own local delivery, which already drops or disconnects slow clients.
// An application that needs history keeps it itself, for example in a
// JetStream stream or a database it reads when a client joins.
package natsbroker
