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
	"net/http"
	"os"
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
	// Bounded time for headers and answers (the upgrade clears these
	// deadlines), idle connections closed: no slowloris.
	srv := &http.Server{
		Handler:           newApp(hub),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sockets.Shutdown(ctx)
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
