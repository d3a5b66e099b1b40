// Command echo is the smallest sockets app: a page with an input box whose
// messages come back through a JSON websocket.
//
//	go run ./examples/echo            # then open http://127.0.0.1:4000
package main

import (
	_ "embed"
	"flag"
	"log"

	"github.com/macaron-contrib/sockets"
	"gopkg.in/macaron.v1"
)

// Message is what the page and the server exchange.
type Message struct {
	Text string `json:"text"`
}

//go:embed index.html
var indexHTML []byte

// newApp builds the app: the page at / and the socket at /ws.
func newApp(addr string) *macaron.Macaron {
	m := macaron.New()
	m.Use(macaron.Recovery())
	m.Get("/", func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Content-Type", "text/html; charset=utf-8")
		ctx.Resp.Write(indexHTML)
	})
	m.Get("/ws", sockets.JSON(Message{}, &sockets.Options{
		AllowedHosts:            sockets.ListenHosts(addr), // DNS rebinding
		MessageRate:             20,
		MessageBurst:            40,
		MaxConnectionsPerClient: 16,
	}), func(receiver <-chan *Message, sender chan<- *Message, done <-chan bool) {
		for {
			select {
			case msg := <-receiver:
				sender <- msg
			case <-done:
				return
			}
		}
	})
	return m
}

func main() {
	addr := flag.String("addr", "127.0.0.1:4000", "address to listen on")
	flag.Parse()
	log.Printf("echo: listening on http://%s", *addr)
	// Bounded time for headers and answers, idle connections closed: no
	// slowloris (see sockets.NewServer).
	srv := sockets.NewServer(newApp(*addr))
	srv.Addr = *addr
	log.Fatal(srv.ListenAndServe())
}
