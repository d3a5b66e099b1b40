// Command logstream follows log files like `tail -F` and streams them to
// browsers over websockets, with per-client filters.
//
//	go run ./examples/logstream                       # a demo log, written live
//	go run ./examples/logstream -file /var/log/app.log -file /var/log/db.log
//
// then open http://127.0.0.1:4001. The page shows one file, or several
// (at most 8) merged into one list: one socket per file, each resuming on
// its own, and the lines of all ordered by their frames' at (see below;
// each file's lines in their order, the backfills merged as well), each
// row naming its file beside a colour of its own. The filter, the pause,
// the download (merged by the server) and the notices apply to every file
// of the view; a file that fails says so in the legend while the others
// stream on. The page keeps its view in its URL
// (/?file=&file=&level=&search=&since_time=&paused=1, file= once per
// file): a link opens the same view, and the back and forward buttons go
// through the views (picking files, a level or a since time, or starting
// a search, makes a history entry; going on typing and pausing replace
// it). A paused link shows the lines sent first, then holds the live ones. The search's matches are highlighted in the lines
// (<mark> elements around text nodes, never HTML; a /regexp/ is read by
// the browser's RegExp, case-insensitively: one it rejects, as Go's syntax
// is not JavaScript's, highlights nothing). Without -file, it writes a made-up
// application log (JSON, some logfmt, some plain text) into a temporary
// file, a few lines per second, and streams that; the file is removed on
// exit. SIGINT or SIGTERM closes the websockets with 1001 and shuts down.
//
// # API
//
// GET /api/files lists the streamable files: a JSON array of the paths as
// given on the command line.
//
// GET /api/logs/stream?file=&level=&search=&backfill=N&since=GEN:OFFSET is
// a websocket of text frames, one JSON object per line:
//
//	{"file":"/var/log/app.log","gen":"1x2y3z4a5b6c-0","offset":1234,"line":"…","level":"error","time":"2025-01-02T15:04:05Z","at":1735830245000000}
//
// gen names the generation of the file the line is from: it changes when
// the file is rotated, truncated or re-created, and when the server
// restarts (a restarted server cannot tell whether the file it finds is
// the one it read before). offset is the byte offset of the line's start
// in that generation, line the raw line without its newline, level the
// detected level (debug, info, warn, error, or ""), time the detected
// timestamp in RFC 3339 (omitted when none). at is the time a view of
// several files orders the line by, in microseconds since 1970 UTC: its
// time; for a line without one, the time of the last line before it that
// has one (so a stack trace stays with its message; at most 1000 lines in
// a row, and within one generation); otherwise the time the server read
// it. The first line after the file was rotated or truncated (offsets
// start again at 0, in a new generation) also has "rotated":true. A
// structured line (a JSON object, or logfmt: nothing but key=value pairs;
// at most 64 KiB) also has "fields", the object of its fields other than
// those of its time, level and message, each value as text, in the line's
// order (nested JSON objects flattened: "req.method"), and "msg", its
// message (the field msg, message, @message, log or event), when it has
// one:
//
//	{…,"line":"{\"level\":\"error\",\"msg\":\"GET /pay\",\"status\":502}","level":"error","msg":"GET /pay","fields":{"status":"502"}}
//
// A plain line has neither (see logline.Parse).
//
//   - file must be spelled exactly as on the command line (as /api/files
//     lists it); anything else, whatever file it would name, is refused with
//     403 before the upgrade. With a single file it may be omitted; with
//     several, its absence is a 400. One file per socket: file= repeated
//     with another name is a 400 (a view of several files opens a socket
//     for each).
//   - level is the minimum severity (warn shows warn and error; lines
//     without a detected level only show under no level or debug); search
//     is a case-insensitive substring, or a regular expression written
//     /like this/, or a field search: terms separated by spaces, all of
//     which a line must pass, field terms such as status>=500, user=ann,
//     status!=200 (>, >=, <, <= on numbers; = and != on whole values,
//     case-insensitively; != also passes a line without the field) and
//     text terms (substrings; "quoted" for spaces). The fields are those
//     of a structured line, or the key=value pairs of any other line. A
//     search is a field search when it has a field term (see
//     logline.NewFilter). An invalid one is a 400 with a plain-text reason
//     (a comparison with what is not a number too); so is
//     a search over 512 bytes, or a regular expression whose compiled
//     program exceeds 1000 instructions (large counted repetitions such as
//     (x?){999}): every line is matched against it (logline.MaxSearchLen,
//     logline.MaxSearchProgram). A regular expression is matched against
//     the start of a line only, as much of it as costs about 2 ms at most:
//     MaxLineWork (262144) divided by the size of its program, in bytes
//     (262 bytes for the costliest, thousands for everyday ones); a
//     substring is looked for in the whole line.
//   - backfill=N sends the last N lines that pass the filter first
//     (default 100; more than 10000 counts as 10000; not a number: 400);
//     fewer if the server keeps fewer (see below).
//   - since_time=RFC3339 sends, in place of the backfill, the kept lines
//     whose detected time is at or after it (a line without a time goes
//     with the line before it; one with none before it in the ring is left
//     out) that pass the filter, at most 10000 (the most recent), matched
//     for 100 ms at most; then the live lines. An invalid time: 400. The
//     page's Since control uses it.
//   - since=GEN:OFFSET resumes after the line with that gen and offset (the
//     last one the client got) instead; backfill and since_time are then
//     ignored. The client gets the lines after it that the server still
//     keeps, in that generation and the ones after it (across rotations),
//     then live ones, without duplicates. It first gets {"error":"gap"}
//     whenever the server cannot prove that the next line it sends
//     directly follows the client's: when lines in between are no longer kept (more than
//     10000 lines or 32 MiB ago: the oldest lines kept follow), or when the
//     generation is not one the server knows (an earlier run of the
//     server, another file): the lines after OFFSET in the current
//     generation follow, or all of it that is kept when OFFSET is beyond
//     its end. The older since=OFFSET, without a generation, is still
//     accepted, as an unknown generation: always with the gap frame.
//
// GET /api/logs/download?file=&level=&search=&since_time=&format=text|ndjson
// answers, as an attachment, the lines the server keeps of the file (the
// ring, see below) that pass the filter and, with since_time, are of that
// time or later (as a stream's since_time selects them): format=text (the
// default) the raw lines, format=ndjson their frames as above, one a line.
// file, level, search and since_time are checked as for the stream (403,
// 400); another format is a 400; the Host is checked as the sockets check
// it (-allowed-hosts). It matches for 100 ms at most, as a backfill does:
// past that, it has the most recent matching lines found by then, and the
// header Logstream-Truncated: budget. The page links to it for what it
// shows. file= repeated (at most 8 files; a name repeated counts once)
// merges the files' lines as the page orders them (by at; each file's lines
// in their order), saved as merged.log, each text line after its file's
// name and ": " (as grep prints them), or merged.ndjson.
//
// A client changes its filter without reconnecting by sending
// {"level":"error","search":"timeout"} (both fields replaced; an optional
// "backfill":N, at most 1000, says how many matching lines to send again,
// by default the connection's backfill; while live, at most 2 MiB of them,
// the most recent, as they travel through the socket's queue). The server
// answers {"filter":{"level":"error","search":"timeout"}}, then the last
// matching lines, then live lines under the new filter: a client clears
// its view on that frame. An invalid filter is answered {"error":"…"} and
// the old one stays. A client's filter messages are handled at most once
// per 100 ms, whether they are carried out or refused: of the messages
// that arrive sooner, only the last is handled, when its time comes (each
// change rescans the file's recent lines, and checking one compiles its
// regular expression). A backfill or refill spends 100 ms at most
// matching: past that, it has the most recent matching lines found by
// then.
//
// When the lines come faster than a filter can be matched against them,
// the ring drops lines before they were matched: the clients of that
// filter get {"error":"behind","skipped":N}, N lines are skipped for them,
// and the lines after follow.
//
// With -self-log (off by default: the records name every viewer's address,
// searches and refused file names), GET /api/logs/self is a websocket of
// the app's own log records, in the same format (file "self", offset a
// sequence number, line the JSON log line): the app logs through slog to
// stderr and, through wslog, to a hub room.
//
// # One reader, fan-out through the Hub, per-client filters
//
// Each file has exactly one follower, started with the app: one
// tail.Follow, whatever the number of clients. The follower parses each
// line once (logline.Parse), encodes its frame once, and keeps it in a
// ring of the last 10000 lines, or fewer: at most 32 MiB of lines and
// their frames (lines can be up to 1 MiB long, and what an application
// logs is often up to its users, so a count alone would let one file take
// gigabytes). Past either limit the oldest lines are dropped.
//
// Live lines reach clients through a sockets.Hub. Clients that share a
// filter share a hub room (a "group"; the unfiltered clients are one group
// too), so each line is matched once per group, not once per client, and
// published once to the group's room. A line's frame is made a
// sockets.Frame once, by the first group that publishes it, without a
// copy, and that one Frame is published to every group's room
// (Hub.PublishFrame) and queued to every member: the ring, ten groups that
// pass a line and their members hold one buffer for it, not one per group
// (each group's publish used to copy the frame and prepare its own).
// Groups exist only while they have members, so their number is bounded by
// the number of clients, not by the possible filters.
//
// No filter is matched under the file's lock, so that no filter, however
// costly, delays the follower or the clients of other filters. The
// follower only appends each line to the ring and wakes the groups. Each
// group has its own goroutine and position in the ring: it takes the next
// lines (under the lock, briefly), matches them without it, then publishes
// the matching ones and moves its position past them, under the lock
// again. A group that falls so far behind that the ring dropped lines it
// had not matched tells its room how many it skips (see above), as the
// hub disconnects a client that cannot keep up.
//
// A client that connects first catches up from the ring: the backfill (or
// the lines after since), filtered by its handler (outside the lock) and
// sent through its sender channel with backpressure, in batches. It joins
// its group's room, under the lock, only when its position is exactly the
// group's (or, with no group yet, the end of the ring, where the new group
// starts): before the group, it catches up to the group's position; past
// it, it waits for the group. So every line is either caught up with or
// published to the room after the join, never both, never neither. The
// sender is unbuffered, so every caught-up frame has been taken by the
// connection's writer before the join, and is written before any frame of
// the room.
//
// A filter change while live takes the client out of its group; the
// acknowledgement and the refill lines, then the lines caught up with
// until it joins its new group, are queued to the connection alone
// (Conn.Send). All of these travel through the connection's single hub
// queue, so they arrive in order after whatever the old group sent.
// (While still catching up, the change just restarts the catch-up.)
//
// A client that cannot keep up with its hub queue (4096 frames, or 4 MiB
// of them, shared with the ring and other clients) is disconnected with
// 1008 by the hub rather than silently missing lines; the page reconnects
// with since= and loses nothing that the ring still has. So a viewer that
// reads nothing holds at most 4 MiB queued, and what its writer took
// before it blocked, until the hub closes it.
//
// # Resuming across rotations
//
// The follower numbers the generations of its file (0 for the file found
// at start, one more at each rotation, truncation or re-creation) and
// names them after a random per-run prefix. Lines of a generation are
// contiguous in the ring, in offset order, so a since= position is found
// by two binary searches; each line also remembers the offset of the line
// before it, so a client whose last line is just older than the oldest
// line kept resumes without a gap.
//
// # Which files are read
//
// Only regular files. A path given on the command line that is a symbolic
// link is resolved once, at start, and the file it names is followed
// (rotations of that file included); a symbolic link that replaces the
// followed file later (say, to /etc/shadow, in a log directory the logging
// app can write) is not followed, nor is a FIFO (opening one could block
// the follower, and shutdown with it): both count as a missing file until
// a regular file is back. A FIFO, a directory or a link to a missing file
// at start is an error. See package tail.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets"
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
	selfLog := flag.Bool("self-log", false, "serve the app's own log at /api/logs/self (it shows every viewer's address and searches: off by default)")
	hosts := flag.String("allowed-hosts", "", "comma-separated Host names the viewer accepts (default: the names of -addr; needed when listening on every interface or behind a domain)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: name files with -file", flag.Args())
	}

	cfg := config{Files: files, UsePolling: *poll, AllowedHosts: sockets.ListenHosts(*addr), SelfLog: *selfLog}
	if *hosts != "" {
		cfg.AllowedHosts = strings.Split(*hosts, ",")
	}
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
// websockets (the app's group) and shuts the server down, waiting at most
// shutdownTimeout in all.
func serve(ctx context.Context, ln net.Listener, a *app) error {
	srv := sockets.NewServer(a.Handler())
	srv.ErrorLog = slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)
	err := sockets.Serve(ctx, srv, ln, a.group, shutdownTimeout)
	a.log.Info("shut down", "err", err)
	return err
}
