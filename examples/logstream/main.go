// Command logstream follows log files like `tail -F` and streams them to
// browsers over websockets, with per-client filters.
//
//	go run ./examples/logstream                       # a demo log, written live
//	go run ./examples/logstream -file /var/log/app.log -file /var/log/db.log
//
// then open http://127.0.0.1:4001. Without -file, it writes a made-up
// application log (JSON, some logfmt, some plain text) into a temporary
// file, a few lines per second, and streams that; the file is removed on
// exit. SIGINT or SIGTERM closes the websockets with 1001 and shuts down.
//
// # API
//
// GET /api/files lists the streamable files: a JSON array of the paths as
// given on the command line.
//
// GET /api/logs/stream?file=&level=&search=&backfill=N&since=OFFSET is a
// websocket of text frames, one JSON object per line:
//
//	{"file":"/var/log/app.log","offset":1234,"line":"…","level":"error","time":"2025-01-02T15:04:05Z"}
//
// offset is the byte offset of the line's start in the file, line the raw
// line without its newline, level the detected level (debug, info, warn,
// error, or ""), time the detected timestamp in RFC 3339 (omitted when
// none). The first line after the file was rotated or truncated (offsets
// start again at 0) also has "rotated":true.
//
//   - file must be spelled exactly as on the command line (as /api/files
//     lists it); anything else, whatever file it would name, is refused with
//     403 before the upgrade. With a single file it may be omitted; with
//     several, its absence is a 400.
//   - level is the minimum severity (warn shows warn and error; lines
//     without a detected level only show under no level or debug); search
//     is a case-insensitive substring, or a regular expression written
//     /like this/. An invalid one is a 400 with a plain-text reason.
//   - backfill=N sends the last N lines that pass the filter first
//     (default 100; more than 10000 counts as 10000; not a number: 400).
//   - since=OFFSET resumes after the line at OFFSET instead (backfill is
//     then ignored): the lines of the current file after it that the server
//     still keeps, then live ones, without duplicates. When lines in
//     between are no longer kept (more than 10000 lines ago), or when the
//     offset is beyond the end of the current file (it was rotated since),
//     the client first gets {"error":"gap"}, then the oldest lines kept.
//
// A client changes its filter without reconnecting by sending
// {"level":"error","search":"timeout"} (both fields replaced; an optional
// "backfill":N, at most 1000, says how many matching lines to send again,
// by default the connection's backfill). The server answers
// {"filter":{"level":"error","search":"timeout"}}, then the last matching
// lines, then live lines under the new filter: a client clears its view on
// that frame. An invalid filter is answered {"error":"…"} and the old one
// stays. A client's filter changes are carried out at most once per 100 ms:
// of the messages that arrive sooner, only the last is carried out, when
// its time comes (each change rescans the file's recent lines).
//
// GET /api/logs/self is a websocket of the app's own log records, in the
// same format (file "self", offset a sequence number, line the JSON log
// line): the app logs through slog to stderr and, through wslog, to a hub
// room.
//
// # One reader, fan-out through the Hub, per-client filters
//
// Each file has exactly one follower, started with the app: one
// tail.Follow, whatever the number of clients. The follower parses each
// line once (logline.Parse), encodes its frame once, and keeps it in a
// ring of the last 10000 lines.
//
// Live lines reach clients through a sockets.Hub. Clients that share a
// filter share a hub room (a "group"; the unfiltered clients are one group
// too), so the follower matches each line once per group, not once per
// client, and publishes it once to the group's room: the hub prepares the
// frame once and queues it to every member. Groups exist only while they
// have members, so their number is bounded by the number of clients, not
// by the possible filters.
//
// A client that connects first catches up from the ring: the backfill (or
// the lines after since), filtered by its handler and sent through its
// sender channel with backpressure, in batches read under the follower's
// lock. When a batch comes back empty at the end of the ring, the handler
// joins its group's room in the same critical section: a line is either in
// the ring before the join (and was caught up with) or published after it
// (and reaches the room), never both, never neither. The sender is
// unbuffered, so every caught-up frame has been taken by the connection's
// writer before the join, and is written before any frame of the room.
//
// A filter change while live happens under the follower's lock too: the
// client leaves its group, the acknowledgement and the refill lines are
// published to the client's own room, and it joins the new group. All of
// these travel through the connection's single hub queue, so they arrive
// in order after whatever the old group sent. (While still catching up, the
// change just restarts the catch-up.)
//
// A client that cannot keep up with its hub queue (4096 frames) is
// disconnected with 1008 by the hub rather than silently missing lines; the
// page reconnects with since= and loses nothing that the ring still has.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// shutdownTimeout bounds the wait for connections on SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// fileFlags collects repeated -file flags.
type fileFlags []string

func (f *fileFlags) String() string { return strings.Join(*f, ",") }
func (f *fileFlags) Set(v string) error {
	if v == "" {
		return errors.New("empty file name")
	}
	*f = append(*f, v)
	return nil
}

// run is the whole command; it runs once per process.
func run() error {
	var files fileFlags
	addr := flag.String("addr", "127.0.0.1:4001", "address to listen on")
	flag.Var(&files, "file", "a log file to stream (repeat for several); none: a demo log")
	poll := flag.Bool("poll", false, "poll the files instead of using file system notifications")
	debug := flag.Bool("debug", false, "log at debug level")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: name files with -file", flag.Args())
	}

	cfg := config{Files: files, UsePolling: *poll}
	if *debug {
		cfg.LogLevel = slog.LevelDebug
	}
	if len(files) == 0 {
		d, err := startDemo("")
		if err != nil {
			return fmt.Errorf("starting the demo log: %w", err)
		}
		defer d.stop()
		cfg.Files = []string{d.path}
	}

	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	a.log.Info("listening", "url", "http://"+ln.Addr().String(), "demo", len(files) == 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, ln, a)
}

// serve serves the app on ln until ctx is done, then closes the
// websockets (sockets.Shutdown, or the app's own group) and shuts the
// server down, waiting at most shutdownTimeout in all.
func serve(ctx context.Context, ln net.Listener, a *app) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Hijacked connections are not the server's any more: close them
	// first, then stop accepting and wait for the plain requests.
	// The app's group is sockets.DefaultGroup unless a test chose one:
	// this is sockets.Shutdown.
	err := a.Shutdown(sctx)
	if serr := srv.Shutdown(sctx); err == nil {
		err = serr
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
