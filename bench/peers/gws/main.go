// Command gws serves the benchmark protocol with github.com/lxzan/gws, the
// way gws's documentation recommends: an event handler per route, ReadLoop
// in its own goroutine, messages handled on the reader goroutine
// (ParallelEnabled off, which keeps each connection's order), /echo
// answering from OnMessage, and /broadcast encoding each message once with
// gws.NewBroadcaster. A broadcast client with 256 frames still queued is
// dropped; the broadcaster never blocks. The server itself is
// internal/gwshub.
//
//	gws -addr 127.0.0.1:0
package main

import (
	"github.com/macaron-contrib/sockets/bench/internal/gwshub"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

func main() {
	serve.Main("gws", gwshub.Handler())
}
