// Command gorillahub is the benchmark's baseline: the classic
// gorilla/websocket chat-hub pattern. One hub goroutine owns the set of
// clients and serves register, unregister and broadcast channels; each client
// has a read goroutine, a write goroutine and a 256-deep send channel, and a
// client whose send channel is full is dropped. Unlike the chat example, the
// writer never coalesces queued messages: each message is its own text
// frame. The server itself is internal/gorillahub.
//
//	gorillahub -addr 127.0.0.1:0
package main

import (
	"github.com/macaron-contrib/sockets/bench/internal/gorillahub"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

func main() {
	// The classic example's buffer sizes.
	serve.Main("gorillahub", gorillahub.Handler(1024, 1024))
}
