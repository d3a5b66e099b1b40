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
// Names and rooms are trimmed of spaces wherever they come in (the socket's
// URL, the room's page, the lobby's form): "general " is "general". A bad
// name (empty, over 32 characters) or room (empty, over 64 characters),
// one with an invisible or control character in it (zero-width spaces,
// bidi controls and every other format character, variation selectors,
// Hangul fillers), or "." or ".." (which browsers resolve in a URL) is
// refused with 400 before the upgrade, a name in use in the room with 409.
// Lookalikes made of visible characters are not caught (see names.go).
//
// Each room keeps its last 50 messages (-history) for joiners, and a log
// of its last 256 events for joiners catching up; a room everyone left
// keeps only its history, for up to 256 such rooms.
//
// The hub's counters are at /debug/vars, under "chat"; it answers only
// requests from this machine that came through no proxy. With
// -metrics-addr (off by default), Prometheus metrics are served at /metrics
// on a listener of their own, for example -metrics-addr 127.0.0.1:9100:
// the sockets', the hub's and the NATS broker's (package metrics), labelled
// "chat", with the Go runtime's and the process's.
//
// Several instances can serve the same rooms through a NATS server:
//
//	go run ./examples/chat -addr 127.0.0.1:4000 -nats nats://127.0.0.1:4222
//	go run ./examples/chat -addr 127.0.0.1:4001 -nats nats://127.0.0.1:4222
//
// (or NATS_URL=nats://127.0.0.1:4222; -nats wins over it). Members of a room
// on any instance then talk to each other with the same protocol, a joiner
// gets the room's history and members from every instance, and the lobby
// counts everyone: see the README's "Running several instances" and
// natsStore. Without a NATS server there, the command fails at once. The broker's counters are at
// /debug/vars under "chat_nats". What the other instances send is checked
// as a client's frames are (names, texts, frame types), and clocks more
// than 2^32 ahead are refused; what fails is dropped and counted there as
// "malformed" (see rooms_nats_check.go).
package main

import (
	"context"
	"errors"
	"expvar"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets/natsbroker"
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
	cfg := parseFlags(os.Args[1:], os.Getenv)
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	a.hub.PublishExpvar("chat") // expvar names are global: once per process
	if a.nats != nil {
		expvar.Publish("chat_nats", expvar.Func(func() any { return a.nats.stats() }))
	}

	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, a)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	a.log.Printf("chat: listening on http://%s", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, ln, a)
}

// parseFlags reads the command line; NATS_URL (through getenv) is the
// default of -nats.
func parseFlags(args []string, getenv func(string) string) config {
	var cfg config
	fs := flag.NewFlagSet("chat", flag.ExitOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:4000", "address to listen on")
	fs.Func("allowed-hosts", "comma-separated Host names the sockets accept (default: the names of -addr; needed when listening on every interface or behind a domain)", func(v string) error {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				cfg.AllowedHosts = append(cfg.AllowedHosts, h)
			}
		}
		return nil
	})
	fs.IntVar(&cfg.HistorySize, "history", defaultHistorySize, "messages each room keeps for joiners")
	fs.StringVar(&cfg.NATSURL, "nats", getenv("NATS_URL"),
		"NATS server URL(s) through which instances share their rooms (default $NATS_URL; empty: a single instance)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address of a listener of its own serving Prometheus metrics at /metrics (empty: none)")
	fs.StringVar(&cfg.NATSPrefix, "nats-prefix", natsbroker.DefaultPrefix, "first tokens of the NATS subjects; instances with the same prefix share their rooms")
	fs.Parse(args)
	return cfg
}

// serve serves the chat on ln until ctx is done, then closes the open
// sockets and shuts the server down, waiting at most shutdownTimeout.
func serve(ctx context.Context, ln net.Listener, a *app) error {
	// Every request has bounded time to send its headers and to be
	// answered (a socket's upgrade clears these deadlines; its own are
	// PongWait and WriteWait), and an idle keep-alive connection is closed:
	// slowloris clients cannot keep connections open.
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
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
