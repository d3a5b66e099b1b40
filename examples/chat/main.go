// Command chat is a multi-room chat built on a sockets Hub with history and
// presence.
//
//	go run ./examples/chat            # then open http://127.0.0.1:4000
//
// The lobby at / lists the rooms in use, busiest first, 50 a page;
// /rooms/NAME is a room's page. The page talks JSON frames,
// {"typ":"...","from":"...","text":"..."}, over the websocket
// /sockets/rooms/ROOM/CLIENTNAME:
//
//   - the client sends {"typ":"message","text":"hi"};
//   - the other members get {"typ":"message","from":"CLIENTNAME","text":"hi",
//     "pos":"..."} (the sender gets no echo), and
//     {"typ":"status","from":NAME,"text":"joined"} or "left";
//   - a joining client first gets the room's last 50 messages (-history),
//     oldest first, as "history" frames, then
//     {"typ":"members","text":"[\"ann\",\"bob\"]"};
//   - a client that reconnects with ?since=POS, the last "pos" it saw, gets
//     exactly the messages it missed, then the members; when they cannot
//     be recovered, {"typ":"error","error":"reload"} and the history again;
//   - a frame the server refuses, or a message it could not store, gets
//     {"typ":"error","text":REASON} back;
//   - when the server loses NATS, every member gets
//     {"typ":"storage","text":"unavailable"}, and "available" when it is
//     back.
//
// Names and rooms are trimmed of spaces wherever they come in. A bad name
// (empty, over 32 characters) or room (empty, over 64 characters), one
// with an invisible or control character, or "." or "..", is refused with
// 400 before the upgrade, a name in use in the room with 409 (see
// names.go).
//
// Rooms live in NATS JetStream (package natsjs): the history in a stream,
// the names in a key-value bucket. With no flags, an embedded nats-server
// stores them in -data, so history survives a restart. With -nats, an
// external NATS cluster (nats-server 2.11 or newer, JetStream on) is used
// instead, and several instances share rooms, history and names:
//
//	go run ./examples/chat -addr 127.0.0.1:4000 -nats-listen 127.0.0.1:4222
//	go run ./examples/chat -addr 127.0.0.1:4001 -nats nats://127.0.0.1:4222
//
// (the first embeds the server and lets the second use it). Credentials
// never go on the command line: NATS_CREDS, NATS_TOKEN or NATS_USER and
// NATS_PASSWORD. With -debug-addr (off by default),
// Prometheus metrics and expvar are served on a listener of their own.
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
	"strings"
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
	cfg, debugAddr := parseFlags(os.Args[1:], os.Getenv)
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	a.hub.PublishExpvar("chat") // expvar names are global: once per process
	if debugAddr != "" {
		stopDebug, err := serveDebug(debugAddr, a)
		if err != nil {
			return err
		}
		defer stopDebug()
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
// default of -nats, and credentials come from the environment (natsAuth).
func parseFlags(args []string, getenv func(string) string) (cfg config, debugAddr string) {
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
	fs.IntVar(&cfg.HistorySize, "history", defaultHistorySize, "messages a joiner gets; the stream keeps 20 times as many per room (the same on every instance)")
	fs.StringVar(&cfg.DataDir, "data", defaultDataDir(), "directory where the embedded NATS server stores the rooms")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "", "address where the embedded NATS server listens for other instances (empty: none)")
	fs.StringVar(&cfg.NATSURL, "nats", getenv("NATS_URL"), "URL(s) of an external NATS cluster with JetStream, instead of the embedded server (default $NATS_URL)")
	fs.StringVar(&debugAddr, "debug-addr", "", "address of a listener of its own serving /metrics and /debug/vars (empty: none)")
	fs.Parse(args)
	cfg.NATSOptions = natsAuth(getenv)
	return cfg, debugAddr
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
