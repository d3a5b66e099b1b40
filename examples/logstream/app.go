package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/macaron-contrib/sockets"
	socketsjs "github.com/macaron-contrib/sockets/client" // (the tests have a type client)
	"github.com/macaron-contrib/sockets/examples/logstream/logline"
	"github.com/macaron-contrib/sockets/examples/logstream/tail"
	"github.com/macaron-contrib/sockets/wslog"
	"gopkg.in/macaron.v1"
)

// Limits and defaults of the stream API.
const (
	defaultRingSize = 10000 // lines each file's follower keeps
	defaultBackfill = 100   // lines sent first when backfill= is absent
	maxBackfill     = 10000 // larger backfill= values are clamped
	// defaultRingBytes bounds the bytes each file's follower keeps (a
	// line's text and its frame): lines may be up to 1 MiB (tail cuts
	// longer ones), so 10000 of them could take gigabytes.
	defaultRingBytes = 32 << 20
	// maxRefill bounds the lines sent again after a filter change.
	maxRefill = 1000
	// maxRefillBytes bounds the frames sent again after a filter change
	// while live, the most recent kept: they go through the hub queue,
	// which must take them whole, with room left for live lines (at
	// streamQueueBytes the viewer would be disconnected as slow).
	maxRefillBytes = streamQueueBytes / 2
	// streamQueue is each stream socket's hub queue: room for a refill
	// and a burst of live lines.
	streamQueue = 4096
	// streamQueueBytes bounds the same queue in bytes of frames: a
	// viewer that reads nothing makes the server hold at most this much
	// for it (plus what its writer has taken, as much again) before it is
	// disconnected. A line's frame is one buffer shared by every group
	// and member, so queues mostly hold frames the ring keeps anyway. 4
	// MiB is 64 lines of 64 KiB, 4 of 1 MiB: the library's default of 1
	// MiB cut readers off at bursts of 16 lines of 64 KiB.
	streamQueueBytes = 4 << 20
	// maxClientMessage bounds a client's filter message.
	maxClientMessage = 4096
	// selfRoom is the hub room of the app's own log.
	selfRoom = "self"
)

// config sets the app up: main fills it from its flags, tests directly.
type config struct {
	// Files are the paths that can be streamed, as given on the command
	// line. At least one.
	Files []string
	// AllowedHosts are the Host values the sockets accept (the guard
	// against DNS rebinding, which would let any page the local user
	// visits read the logs). Default: none, any Host (main sets the names
	// of its listen address).
	AllowedHosts []string
	// RingSize is the number of lines kept per file. Default: 10000.
	RingSize int
	// RingBytes bounds the bytes kept per file, counting each line's text
	// and its encoded frame: past it, the oldest lines are dropped, as they
	// are past RingSize lines; a line bigger than RingBytes on its own is
	// sent to live clients but not kept. Default: 32 MiB.
	RingBytes int
	// PollInterval and UsePolling are passed to tail.Follow.
	PollInterval time.Duration
	UsePolling   bool
	// LogOutput receives the app's log as text. Default: os.Stderr.
	LogOutput io.Writer
	// LogLevel is the least severe level logged (to LogOutput and to
	// /api/logs/self). Default: info.
	LogLevel slog.Level
	// Group is the sockets group of the app's websockets, the one that
	// shutdown closes. Default: sockets.DefaultGroup.
	Group *sockets.Group
	// SelfLog serves the app's own log at /api/logs/self. Off by default:
	// it shows every viewer's address, searches and refused file names to
	// whoever opens it.
	SelfLog bool
}

// app is the log viewer: one stream per file, a hub, the pages.
type app struct {
	log     *slog.Logger
	wslog   *wslog.Handler
	hub     *sockets.Hub
	group   *sockets.Group
	files   []string // as given, in order
	streams map[string]*stream
	handler http.Handler
	// allowedHosts is the sockets' AllowedHosts; hostOK checks the other
	// routes' Host by the same rules.
	allowedHosts []string
	hostOK       func(*http.Request) bool
	selfLog      bool // serve /api/logs/self

	cancel  context.CancelFunc
	wg      sync.WaitGroup // the followers
	follows atomic.Int64   // tail.Follow calls made

	closeOnce sync.Once
}

//go:embed static
var assets embed.FS

// newApp starts following every file and builds the handler. The caller
// serves app.Handler() and calls Close when done.
func newApp(cfg config) (*app, error) {
	if len(cfg.Files) == 0 {
		return nil, errors.New("logstream: no file to stream")
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = defaultRingSize
	}
	if cfg.RingBytes <= 0 {
		cfg.RingBytes = defaultRingBytes
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	if cfg.Group == nil {
		cfg.Group = sockets.DefaultGroup
	}
	seen := make(map[string]string)
	for _, f := range cfg.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("logstream: %s: %w", f, err)
		}
		if prev, dup := seen[abs]; dup {
			return nil, fmt.Errorf("logstream: %q and %q name the same file", prev, f)
		}
		seen[abs] = f
		// A file may come later (the follower waits for it); the directory
		// it would be made in must be there.
		if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("logstream: %s: no directory %s to wait for the file in", f, filepath.Dir(abs))
		}
	}

	hostOK, err := sockets.HostCheck(cfg.AllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("logstream: %w", err)
	}
	hub, err := sockets.NewHub(nil) // DisconnectSlowClient: see the package doc
	if err != nil {
		return nil, err
	}
	ws := wslog.New(hub, selfRoom, &wslog.Options{Level: cfg.LogLevel, File: "self"})
	text := slog.NewTextHandler(cfg.LogOutput, &slog.HandlerOptions{Level: cfg.LogLevel})
	ctx, cancel := context.WithCancel(context.Background())
	a := &app{
		log:          slog.New(wslog.Tee(text, ws)),
		wslog:        ws,
		hub:          hub,
		group:        cfg.Group,
		files:        append([]string(nil), cfg.Files...),
		streams:      make(map[string]*stream),
		allowedHosts: cfg.AllowedHosts,
		hostOK:       hostOK,
		selfLog:      cfg.SelfLog,
		cancel:       cancel,
	}
	for i, name := range a.files {
		s := newStream(i, name, cfg.RingSize, cfg.RingBytes, hub, a.log)
		err := s.start(ctx, tail.Config{
			Path:         name,
			Backfill:     cfg.RingSize, // fill the ring from what is there
			Since:        -1,
			PollInterval: cfg.PollInterval,
			UsePolling:   cfg.UsePolling,
		}, &a.wg)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("logstream: following %s: %w", name, err)
		}
		a.follows.Add(1)
		a.streams[name] = s
		if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
			a.log.Warn("waiting for the file to be created", "file", name)
		}
	}
	a.handler = a.routes()
	a.log.Info("following", "files", a.files)
	return a, nil
}

// Handler serves the whole app.
func (a *app) Handler() http.Handler { return a.handler }

// Shutdown closes every websocket of the app's group with 1001 and waits
// for their handlers, or for ctx.
func (a *app) Shutdown(ctx context.Context) error { return a.group.Shutdown(ctx) }

// Close stops the followers and the log publisher, and waits for them.
// Open sockets are not closed (see Shutdown).
func (a *app) Close() error {
	a.closeOnce.Do(func() {
		a.cancel()
		a.wg.Wait()
		a.wslog.Close()
		a.hub.Close()
	})
	return nil
}

func (a *app) routes() http.Handler {
	m := macaron.New()
	m.Use(macaron.Recovery())
	m.Use(securityHeaders)
	m.Use(a.checkHost)

	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	m.Get("/static/*", func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(ctx.Resp, ctx.Req.Request)
	})
	// The library's browser client, which the page loads before its own
	// script. Without a version in its URL it is revalidated at each use.
	m.Get("/sockets.js", socketsjs.Handler())
	m.Get("/", a.index)
	m.Get("/api/files", a.listFiles)

	opts := func(queue, queueBytes int) *sockets.Options {
		return &sockets.Options{
			Logger:   slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
			LogLevel: sockets.LogLevelWarning,
			Group:    a.group,
			// Unbuffered: a send returns once the writer has taken the
			// frame, which the hand-over from catch-up to live relies on.
			SendChannelBuffer: -1,
			MaxMessageSize:    maxClientMessage,
			HubQueueSize:      queue,
			HubQueueBytes:     queueBytes,
			// Filter changes come from people; a burst of them is handled
			// (the last wins, at most one per 100 ms), a flood is cut.
			MessageRate:             100,
			MessageBurst:            250,
			MaxConnectionsPerClient: 32,
			AllowedHosts:            a.allowedHosts,
		}
	}
	m.Get("/api/logs/download", a.download)
	m.Get("/api/logs/stream", a.checkStream, sockets.Messages(opts(streamQueue, streamQueueBytes)), a.serveStream)
	if a.selfLog {
		m.Get("/api/logs/self", sockets.Messages(opts(0, 0)), a.serveSelf)
	}
	return m
}

// checkHost answers 403 to a request for a Host the viewer does not serve
// (AllowedHosts), on every route: the page, the file list and the
// downloads are not for a page of another site that a DNS rebinding made
// this one's, any more than the sockets are.
func (a *app) checkHost(ctx *macaron.Context) {
	if !a.hostOK(ctx.Req.Request) {
		a.log.Warn("refused a foreign host", "host", clip(ctx.Req.Host), "host_len", len(ctx.Req.Host), "remote", ctx.Req.RemoteAddr)
		refuse(ctx, http.StatusForbidden, "host not allowed")
	}
}

// securityHeaders forbids inline scripts and foreign resources: even a
// rendering bug cannot run a log line as code.
func securityHeaders(ctx *macaron.Context) {
	h := ctx.Resp.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

func (a *app) index(ctx *macaron.Context) {
	page, err := assets.ReadFile("static/index.html")
	if err != nil {
		http.Error(ctx.Resp, "internal error", http.StatusInternalServerError)
		return
	}
	ctx.Resp.Header().Set("Content-Type", "text/html; charset=utf-8")
	ctx.Resp.Header().Set("Cache-Control", "no-cache")
	ctx.Resp.Write(page)
}

// listFiles answers the JSON array of the streamable files, as given.
func (a *app) listFiles(ctx *macaron.Context) {
	ctx.Resp.Header().Set("Content-Type", "application/json")
	ctx.Resp.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(ctx.Resp).Encode(a.files)
}

func refuse(ctx *macaron.Context, status int, reason string) {
	h := ctx.Resp.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	ctx.Resp.WriteHeader(status)
	io.WriteString(ctx.Resp, reason+"\n")
}

// streamRequest is a stream request, once checked.
type streamRequest struct {
	stream   *stream
	filter   *logline.Filter
	key      filterKey
	backfill int
	since    *position // nil: not resuming
	// sinceTime, when not zero (and not resuming), replaces the backfill:
	// the kept lines from that time on.
	sinceTime time.Time
}

// checkStream checks a stream request before the upgrade: 403 for a file
// not named on the command line (compared as strings, so no path trick or
// link name gets through), 400 for anything invalid.
func (a *app) checkStream(ctx *macaron.Context) {
	q := ctx.Req.URL.Query()
	req := &streamRequest{backfill: defaultBackfill}
	var ok bool
	if req.stream, req.filter, req.key, ok = a.checkFileAndFilter(ctx, q); !ok {
		return
	}

	if v := q.Get("backfill"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			refuse(ctx, http.StatusBadRequest, fmt.Sprintf("invalid backfill %q: want a number of lines from 0 to %d", v, maxBackfill))
			return
		}
		req.backfill = min(n, maxBackfill)
	}
	if v := q.Get("since"); v != "" {
		pos, err := parsePosition(v)
		if err != nil {
			refuse(ctx, http.StatusBadRequest, err.Error())
			return
		}
		req.since = &pos
	}
	if req.sinceTime, ok = sinceTime(ctx, q); !ok {
		return
	}
	ctx.Map(req)
}

// sinceTime reads the since_time parameter (RFC 3339; absent: the zero
// time), answering 400 itself when it is invalid.
func sinceTime(ctx *macaron.Context, q url.Values) (time.Time, bool) {
	v := q.Get("since_time")
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		refuse(ctx, http.StatusBadRequest, fmt.Sprintf("invalid since_time %q: want an RFC 3339 time such as 2006-01-02T15:04:05Z", clip(v)))
		return time.Time{}, false
	}
	return t, true
}

// checkFileAndFilter checks the file= and filter parameters of a stream
// request, answering 403 or 400 itself when they are refused: one file per
// stream socket.
func (a *app) checkFileAndFilter(ctx *macaron.Context, q url.Values) (*stream, *logline.Filter, filterKey, bool) {
	ss, f, key, ok := a.checkFilesAndFilter(ctx, q, 1)
	if !ok {
		return nil, nil, filterKey{}, false
	}
	return ss[0], f, key, true
}

// checkFilesAndFilter checks the file= parameters (from 1 to max of them,
// or none when the app streams a single file; a name repeated counts
// once) and the filter of a request, answering 403 or 400 itself when they
// are refused. The streams come in the order of the app's files.
func (a *app) checkFilesAndFilter(ctx *macaron.Context, q url.Values, max int) ([]*stream, *logline.Filter, filterKey, bool) {
	names := q["file"]
	switch {
	case len(names) == 0 && len(a.files) == 1:
		names = a.files[:1]
	case len(names) == 0 || slices.Contains(names, ""):
		refuse(ctx, http.StatusBadRequest, "file= is required: one of "+strings.Join(a.files, ", "))
		return nil, nil, filterKey{}, false
	}
	for _, name := range names {
		if a.streams[name] == nil {
			a.log.Warn("refused a file not on the command line", "file", clip(name), "file_len", len(name), "remote", ctx.Req.RemoteAddr)
			refuse(ctx, http.StatusForbidden, "this file cannot be streamed: see /api/files")
			return nil, nil, filterKey{}, false
		}
	}
	var ss []*stream
	for _, name := range a.files {
		if slices.Contains(names, name) {
			ss = append(ss, a.streams[name])
		}
	}
	if len(ss) > max {
		what := fmt.Sprintf("at most %d files at a time", max)
		if max == 1 {
			what = "one file per stream: open a socket for each"
		}
		refuse(ctx, http.StatusBadRequest, fmt.Sprintf("%d files named: %s", len(ss), what))
		return nil, nil, filterKey{}, false
	}
	f, key, err := newFilter(q.Get("level"), q.Get("search"))
	if err != nil {
		refuse(ctx, http.StatusBadRequest, err.Error())
		return nil, nil, filterKey{}, false
	}
	return ss, f, key, true
}

// download answers the lines of the files' rings that pass the filter
// (and are of since_time or later, when given), as a file to save: format=text (the default) the raw lines, format=ndjson
// their frames, one a line. One file (file= once) is saved under its own
// name (plus .ndjson for that format); several (file= repeated, at most
// maxViewFiles) are merged as a view of them orders them (mergeByTime),
// saved as merged.log or merged.ndjson, each text line after its file's
// name and ": ", as grep prints lines of several files. It is bounded by
// the rings, and matches outside the files' locks for backfillBudget at
// most per file: past that, the most recent matching lines found by then,
// and the header Logstream-Truncated: budget.
func (a *app) download(ctx *macaron.Context) {
	q := ctx.Req.URL.Query()
	format := q.Get("format")
	var contentType, ext string
	switch format {
	case "", "text":
		contentType = "text/plain; charset=utf-8"
	case "ndjson":
		contentType, ext = "application/x-ndjson", ".ndjson"
	default:
		refuse(ctx, http.StatusBadRequest, fmt.Sprintf("invalid format %q: want text or ndjson", clip(format)))
		return
	}
	ss, f, key, ok := a.checkFilesAndFilter(ctx, q, maxViewFiles)
	if !ok {
		return
	}
	since, ok := sinceTime(ctx, q)
	if !ok {
		return
	}
	lists := make([][]*entry, len(ss))
	names := make([]string, len(ss))
	complete := true
	for i, s := range ss {
		var done bool
		lists[i], _, done = s.lastMatching(f, math.MaxInt, since)
		complete = complete && done
		names[i] = s.name
	}
	filename := filepath.Base(ss[0].name) + ext
	if len(ss) > 1 {
		filename = "merged.log"
		if ext != "" {
			filename = "merged" + ext
		}
	}
	lines := 0
	for _, l := range lists {
		lines += len(l)
	}
	a.log.Info("download", "files", names, "min_level", key.level, "search", key.search, "lines", lines, "remote", ctx.Req.RemoteAddr)

	h := ctx.Resp.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	if !complete {
		h.Set("Logstream-Truncated", "budget")
	}
	w := bufio.NewWriter(ctx.Resp)
	for i, e := range mergeByTime(lists) {
		if format == "ndjson" {
			w.Write(e.frame)
		} else {
			if len(ss) > 1 {
				w.WriteString(ss[i].name)
				w.WriteString(": ")
			}
			w.WriteString(e.text)
		}
		w.WriteByte('\n')
	}
	w.Flush()
}

// newFilter checks a filter and names it.
func newFilter(level, search string) (*logline.Filter, filterKey, error) {
	f, err := logline.NewFilter(level, search)
	if err != nil {
		return nil, filterKey{}, fmt.Errorf("invalid filter: %s", strings.TrimPrefix(err.Error(), "logline: "))
	}
	return f, filterKey{level: logline.NormalizeLevel(level), search: search}, nil
}

// filterMessage is what a client sends to change its filter. Both fields
// are replaced; Backfill, when given, is the number of matching lines sent
// again (at most maxRefill; default: the connection's backfill).
type filterMessage struct {
	Level    string `json:"level"`
	Search   string `json:"search"`
	Backfill *int   `json:"backfill,omitempty"`
}

// parseFilterMessage decodes and checks a client's filter message.
func parseFilterMessage(msg string, defaultRefill int) (*logline.Filter, filterKey, int, error) {
	var m filterMessage
	dec := json.NewDecoder(strings.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, filterKey{}, 0, fmt.Errorf("invalid filter message: %v", err)
	}
	f, key, err := newFilter(m.Level, m.Search)
	if err != nil {
		return nil, filterKey{}, 0, err
	}
	n := defaultRefill
	if m.Backfill != nil {
		if *m.Backfill < 0 {
			return nil, filterKey{}, 0, fmt.Errorf("invalid backfill %d", *m.Backfill)
		}
		n = *m.Backfill
	}
	return f, key, min(n, maxRefill), nil
}

// serveStream runs one stream socket. It first catches up from the ring
// (backfill or since) through the sender, then goes live in the group of
// its filter; see the package doc.
func (a *app) serveStream(c *sockets.Conn, req *streamRequest, receiver <-chan string, sender chan<- string, done <-chan bool) {
	s := req.stream
	sub := &subscription{conn: c, filter: req.filter, key: req.key}
	defer s.unsubscribe(sub)
	log := a.log.With("file", s.name, "remote", c.Request().RemoteAddr, "conn", c.ID())
	log.Info("stream opened", "min_level", req.key.level, "search", req.key.search, "backfill", req.backfill, "since", req.since.String())
	defer log.Info("stream closed")

	var pending [][]byte // frames to send, in order
	var cursor uint64    // the next ring position to catch up from
	if req.since != nil {
		var gap bool
		cursor, gap = s.resume(*req.since)
		if gap {
			pending = append(pending, encodeFrame(controlFrame{Error: errGap}))
		}
	} else if !req.sinceTime.IsZero() {
		pending, cursor = s.backfill(req.filter, maxBackfill, req.sinceTime)
	} else {
		pending, cursor = s.backfill(req.filter, req.backfill, time.Time{})
	}

	live := false
	// queued: the connection was live once, so its hub queue may hold
	// frames of the group it left: what follows goes through the same
	// queue (Conn.Send) rather than the sender, to be written after them.
	queued := false
	var wait <-chan struct{} // while the group is behind the cursor
	// handle carries out a filter message: an error frame for a bad one; for
	// a good one the acknowledgement and the refill (through the queue once
	// live, then a catch-up to the new group; still catching up, in place of
	// the frames not sent yet, as nothing of the group was sent).
	// lastChange is when the last filter message was handled, valid or
	// not: a refused one cost a regexp compilation too.
	var lastChange time.Time
	handle := func(msg string) {
		lastChange = time.Now()
		s.filterMessages.Add(1)
		f, key, n, err := parseFilterMessage(msg, min(req.backfill, maxRefill))
		if err != nil {
			log.Info("refused a filter", "err", err)
			pending = append(pending, encodeFrame(controlFrame{Error: err.Error()}))
			return
		}
		log.Info("filter changed", "level", key.level, "search", key.search)
		s.refills.Add(1)
		wait = nil
		if live {
			// If the connection is closing, done follows.
			cursor, _ = s.refilter(sub, f, key, n)
			live, queued = false, true
			return
		}
		sub.filter, sub.key = f, key
		ack := encodeFrame(controlFrame{Filter: &filterState{Level: key.level, Search: key.search}})
		var frames [][]byte
		frames, cursor = s.backfill(f, n, time.Time{})
		pending = append([][]byte{ack}, frames...)
	}
	var waiting *string            // a filter message not carried out yet
	var refillTimer *time.Timer    // armed while one is waiting
	var refillDue <-chan time.Time // its channel while one is waiting
	defer func() {
		if refillTimer != nil {
			refillTimer.Stop()
		}
	}()
	for {
		if queued && len(pending) > 0 {
			if !send(c, pending) {
				return
			}
			pending = nil
		}
		if len(pending) == 0 && !live && wait == nil {
			var gap bool
			pending, cursor, gap, live, wait = s.catchUp(sub, cursor)
			if gap {
				pending = append([][]byte{encodeFrame(controlFrame{Error: errGap})}, pending...)
			}
			continue
		}
		var out chan<- string
		var next string
		if len(pending) > 0 {
			// A copy of the frame, which the entry keeps: one at a time.
			out, next = sender, string(pending[0])
		}
		select {
		case out <- next:
			pending = pending[1:]
		case msg := <-receiver:
			if waiting == nil && time.Since(lastChange) >= refillEvery {
				handle(msg)
				continue
			}
			// Too soon after the last one: this message replaces any other
			// still waiting, and is handled when it is due.
			if waiting == nil {
				refillTimer = time.NewTimer(refillEvery - time.Since(lastChange))
				refillDue = refillTimer.C
			}
			waiting = &msg
		case <-wait:
			wait = nil
		case <-refillDue:
			msg := *waiting
			waiting, refillDue = nil, nil
			handle(msg)
		case <-done:
			return
		}
	}
}

// refillEvery is the least time between two filter messages of one client
// that are handled, whether they are carried out or refused: a change
// rescans the file's ring (up to backfillBudget), and checking one
// compiles its regexp, so a client that sends them in a burst gets the
// last one of the burst handled, not all of them.
const refillEvery = 100 * time.Millisecond

// serveSelf streams the app's own log: the socket joins the room that
// the wslog handler publishes to.
func (a *app) serveSelf(c *sockets.Conn, receiver <-chan string, done <-chan bool) {
	a.hub.Join(selfRoom, c)
	for {
		select {
		case <-receiver: // nothing to say; keep reading so pongs are read
		case <-done:
			return
		}
	}
}

// maxLogged bounds what the app logs of a value a client chose.
const maxLogged = 200

// clip returns s cut to maxLogged bytes (at a character's start), with an
// ellipsis when cut: a client cannot make a log line as long as its request.
func clip(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	i := maxLogged
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
