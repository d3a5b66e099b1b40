// Command bench is the benchmark server: the protocol every server in the
// bench/ suite speaks, served by this library.
//
//	GET /echo       every text message goes back to its sender
//	GET /broadcast  every text message goes to every client, sender included
//
// It prints "listening on HOST:PORT" once it accepts connections and stops
// on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets"
	"gopkg.in/macaron.v1"
)

// room is the one hub room every /broadcast client joins.
const room = "all"

// newApp builds the routes over hub.
func newApp(hub *sockets.Hub) *macaron.Macaron {
	m := macaron.New()
	opts := &sockets.Options{SkipLogging: true}
	m.Get("/echo", sockets.Messages(opts), func(receiver <-chan string, sender chan<- string, done <-chan bool) {
		for {
			select {
			case msg := <-receiver:
				sender <- msg
			case <-done:
				return
			}
		}
	})
	m.Get("/broadcast", sockets.Messages(opts), func(c *sockets.Conn, receiver <-chan string, done <-chan bool) {
		hub.Join(room, c)
		for {
			select {
			case msg := <-receiver:
				hub.Publish(room, sockets.TextMessage, []byte(msg))
			case <-done:
				return
			}
		}
	})
	return m
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0 picks one)")
	flag.Parse()

	hub, err := sockets.NewHub(nil)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := sockets.NewServer(newApp(hub)) // bounded time for headers and answers
	fmt.Printf("listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := sockets.Serve(ctx, srv, ln, nil, 5*time.Second); err != nil {
		log.Fatal(err)
	}
}
