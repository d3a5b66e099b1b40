// Command melody serves the benchmark protocol with github.com/olahol/melody:
// one melody instance per path, HandleMessage broadcasting with m.Broadcast
// on /broadcast and answering with s.Write on /echo. Melody's defaults are
// kept (256-deep session buffer, 512-byte read limit).
//
//	melody -addr 127.0.0.1:0
package main

import (
	"net/http"

	"github.com/macaron-contrib/sockets/bench/internal/serve"
	"github.com/olahol/melody"
)

// wsHandler serves m's websocket on a route; melody answers failed
// handshakes itself.
func wsHandler(m *melody.Melody) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.HandleRequest(w, r)
	})
}

func newHandler() http.Handler {
	// Melody's default Upgrader accepts any Origin; keep gorilla's same-host
	// check like the other peers (nil CheckOrigin).
	echo := melody.New()
	echo.Upgrader.CheckOrigin = nil
	echo.HandleMessage(func(s *melody.Session, msg []byte) {
		s.Write(msg)
	})
	bcast := melody.New()
	bcast.Upgrader.CheckOrigin = nil
	bcast.HandleMessage(func(s *melody.Session, msg []byte) {
		bcast.Broadcast(msg)
	})
	return serve.Mux(wsHandler(echo), wsHandler(bcast))
}

func main() {
	serve.Main("melody", newHandler())
}
