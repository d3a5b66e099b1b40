// Command chat is a multi-room chat built on a sockets Hub.
//
//	go run ./examples/chat            # then open http://127.0.0.1:4000
//
// The lobby at / lists the rooms in use; /rooms/NAME is a room's page. The
// page talks JSON frames, {"typ":"...","from":"...","text":"..."}, over the
// websocket /sockets/rooms/ROOM/CLIENTNAME:
//
//   - the client sends {"typ":"message","text":"hi"};
//   - the other members get {"typ":"message","from":"CLIENTNAME","text":"hi"}
//     (the sender gets no echo), and {"typ":"status","from":NAME,"text":"joined"}
//     or "left" when someone comes or goes;
//   - a joining client first gets the room's last 50 messages, oldest first,
//     as "history" frames, then {"typ":"members","text":"[\"ann\",\"bob\"]"};
//   - a frame the server refuses gets {"typ":"error","text":REASON} back.
//
// A bad name (empty, over 32 characters) or room (empty, over 64
// characters) is refused with 400 before the upgrade, a name in use in the
// room with 409. The hub's counters are at /debug/vars, under "chat".
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownTimeout bounds the wait for requests in flight on SIGINT or
// SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run is the whole command; it runs once per process.
func run() error {
	var cfg config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:4000", "address to listen on")
	flag.IntVar(&cfg.HistorySize, "history", defaultHistorySize, "messages each room keeps for joiners")
	flag.Parse()

	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	a.hub.PublishExpvar("chat") // expvar names are global: once per process

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	a.log.Printf("chat: listening on http://%s", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, ln, a)
}

// serve serves the chat on ln until ctx is done, then closes the open
// sockets and shuts the server down, waiting at most shutdownTimeout.
func serve(ctx context.Context, ln net.Listener, a *app) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          a.log,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	a.log.Printf("chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Open sockets get 1001 (going away) and the pages reconnect to
	// whichever instance comes up; new upgrades meanwhile get 503.
	err := a.sockets.Shutdown(sctx)
	if herr := srv.Shutdown(sctx); err == nil {
		err = herr
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
