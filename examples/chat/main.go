// Command chat is a multi-room chat on a sockets Hub with history and
// presence in NATS JetStream (the README says how to run several).
//
//	go run ./examples/chat            # then open http://127.0.0.1:4000
//
// The lobby at / lists the rooms in use, 50 a page; /rooms/NAME is a
// room's page. The page talks JSON frames {"typ","from","text"} over the
// websocket /sockets/rooms/ROOM/NAME (a bad name or room: 400; a name in
// use in the room: 409):
//
//   - the client sends {"typ":"message","text":"hi"}; the other members
//     get it with "from" and "pos", its position in the room;
//   - a joiner gets the last 50 messages as "history" frames, then
//     {"typ":"members","text":"[\"ann\",\"bob\"]"}, then "status" frames
//     ("joined" or "left", "from" says who);
//   - with ?since=POS, the last position it saw, a page gets exactly what it
//     missed instead; when that cannot be recovered,
//     {"typ":"error","error":"reload"}, then the history again;
//   - a refused frame, or a message that could not be stored, gets
//     {"typ":"error","text":REASON}; {"typ":"storage","text":"unavailable"}
//     (or "available") says whether messages can be stored.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets"
)

// shutdownTimeout bounds the shutdown on SIGINT or SIGTERM.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if debugAddr != "" {
		if err := a.serveDebug(ctx, debugAddr); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	a.log.Printf("chat: listening on http://%s", ln.Addr())
	return serve(ctx, ln, a)
}

// parseFlags reads the command line; NATS_URL (through getenv) is the
// default of -nats, and credentials come from the environment (natsAuth).
func parseFlags(args []string, getenv func(string) string) (cfg config, debugAddr string) {
	fs := flag.NewFlagSet("chat", flag.ExitOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:4000", "address to listen on")
	fs.Func("allowed-hosts", "comma-separated Host names served (default: the names of -addr; needed when listening on every interface or behind a domain)", func(v string) error {
		cfg.AllowedHosts = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
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

// serve serves the chat on ln until ctx is done, then shuts down: open
// sockets get 1001 (going away) and the pages reconnect to whichever
// instance comes up.
func serve(ctx context.Context, ln net.Listener, a *app) error {
	srv := sockets.NewServer(a.Handler())
	srv.ErrorLog = a.log
	err := sockets.Serve(ctx, srv, ln, a.sockets, shutdownTimeout)
	a.log.Printf("chat: shut down (%v)", err)
	return err
}
