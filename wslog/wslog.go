// Package wslog is an slog.Handler that broadcasts every log record to a
// room of a sockets.Hub, so that a browser can watch a server's own log
// live.
//
// Each record is formatted exactly as slog.JSONHandler formats it (attrs and
// groups included), and the resulting line is wrapped in one JSON text frame:
//
//	{"file":"self","offset":42,"line":"{\"time\":\"…\",\"level\":\"INFO\",\"msg\":\"hi\"}","level":"info","time":"2025-01-02T15:04:05.123456789Z"}
//
// file is Options.File, offset a sequence number that increases by one per
// published record (starting at 0), line the JSON log line without its
// newline, level one of debug, info, warn or error, and time the record's
// time in RFC 3339 (omitted for a record without a time).
//
// Logging never blocks the caller: Handle formats the record on the
// caller's goroutine (so attr values are read while they are still the
// caller's), then offers the line to a bounded buffer without waiting. One
// goroutine per Handler family drains the buffer into Hub.Publish, which
// never blocks either. When the buffer is full the record is dropped and
// counted (Dropped). Close stops the goroutine.
//
// A Handler logs to the room only; to log to stderr as well, combine it
// with an ordinary handler:
//
//	ws := wslog.New(hub, "self", nil)
//	defer ws.Close()
//	logger := slog.New(wslog.Tee(slog.NewTextHandler(os.Stderr, nil), ws))
package wslog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
)

// DefaultBufferSize is the number of records a Handler holds for its
// goroutine when Options.BufferSize is 0.
const DefaultBufferSize = 1024

// DefaultFile is the "file" field of the frames when Options.File is "".
const DefaultFile = "self"

// maxKeptBuffer is the largest formatting buffer returned to the pool.
const maxKeptBuffer = 64 << 10

// Options configures a Handler. A nil *Options, or a zero field, means the
// default.
type Options struct {
	// Level is the minimum level published. Default: slog.LevelInfo.
	Level slog.Leveler
	// File is the value of the frames' "file" field. Default: "self".
	File string
	// AddSource adds the caller's file and line to the JSON line, as
	// slog.HandlerOptions.AddSource does.
	AddSource bool
	// ReplaceAttr rewrites attributes, as slog.HandlerOptions.ReplaceAttr
	// does. It only changes the JSON line: the frame's level and time come
	// from the record.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
	// BufferSize is how many records may wait for the publishing goroutine;
	// more are dropped. Default: DefaultBufferSize.
	BufferSize int
}

// Record is one published frame.
type Record struct {
	File   string `json:"file"`
	Offset uint64 `json:"offset"`
	Line   string `json:"line"`
	Level  string `json:"level"`
	Time   string `json:"time,omitempty"`
}

// A Handler publishes log records to a hub room. Handlers derived from it
// with WithAttrs and WithGroup share its buffer, goroutine and counters.
// It is safe for concurrent use.
type Handler struct {
	core *core
	ops  []op      // WithAttrs and WithGroup calls, in order
	fmts sync.Pool // of *formatter, each with ops applied
}

// op is one WithAttrs (group == "") or WithGroup call.
type op struct {
	group string
	attrs []slog.Attr
}

// formatter is a JSONHandler writing into its own buffer, for one Handle
// call at a time.
type formatter struct {
	buf bytes.Buffer
	h   slog.Handler
}

// entry is a formatted record waiting to be published.
type entry struct {
	line  []byte
	level slog.Level
	time  time.Time
}

// core is what a Handler family shares.
type core struct {
	hub   *sockets.Hub
	room  string
	file  string
	level slog.Leveler
	jopts slog.HandlerOptions

	queue   chan entry
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
	closed  atomic.Bool

	dropped   atomic.Uint64
	published atomic.Uint64
}

// New returns a Handler publishing to room of hub, and starts its
// goroutine; call Close to stop it. Room "" publishes to every connection
// in any room of the hub (Hub.PublishAll).
func New(hub *sockets.Hub, room string, opts *Options) *Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.File == "" {
		o.File = DefaultFile
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	c := &core{
		hub:   hub,
		room:  room,
		file:  o.File,
		level: o.Level,
		// The level check is the Handler's; the JSON formatter formats all.
		jopts:   slog.HandlerOptions{Level: slog.Level(-1 << 30), AddSource: o.AddSource, ReplaceAttr: o.ReplaceAttr},
		queue:   make(chan entry, o.BufferSize),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.run()
	return c.handler(nil)
}

func (c *core) handler(ops []op) *Handler {
	h := &Handler{core: c, ops: ops}
	h.fmts.New = func() any {
		f := &formatter{}
		var jh slog.Handler = slog.NewJSONHandler(&f.buf, &c.jopts)
		for _, o := range ops {
			if o.attrs != nil {
				jh = jh.WithAttrs(o.attrs)
			} else {
				jh = jh.WithGroup(o.group)
			}
		}
		f.h = jh
		return f
	}
	return h
}

// Enabled reports whether records of level are published.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.core.level.Level()
}

// Handle formats r and queues it for publishing. It never blocks: when the
// buffer is full, or the Handler is closed, the record is dropped and
// counted.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	c := h.core
	if c.closed.Load() {
		c.dropped.Add(1)
		return nil
	}
	f := h.fmts.Get().(*formatter)
	f.buf.Reset()
	err := f.h.Handle(ctx, r)
	line := bytes.Clone(bytes.TrimSuffix(f.buf.Bytes(), []byte("\n")))
	if f.buf.Cap() <= maxKeptBuffer {
		h.fmts.Put(f)
	}
	if err != nil {
		return err
	}
	select {
	case c.queue <- entry{line: line, level: r.Level, time: r.Time}:
	default:
		c.dropped.Add(1)
	}
	return nil
}

// WithAttrs returns a Handler whose records carry attrs, formatted as
// slog.JSONHandler does.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.core.handler(append(h.ops[:len(h.ops):len(h.ops)], op{attrs: append([]slog.Attr{}, attrs...)}))
}

// WithGroup returns a Handler that puts the attributes to come in group
// name, as slog.JSONHandler does.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.core.handler(append(h.ops[:len(h.ops):len(h.ops)], op{group: name}))
}

// Dropped returns the number of records dropped because the buffer was full
// or the Handler closed, for the whole Handler family.
func (h *Handler) Dropped() uint64 { return h.core.dropped.Load() }

// Published returns the number of records published to the hub.
func (h *Handler) Published() uint64 { return h.core.published.Load() }

// Close publishes the records already buffered, stops the goroutine and
// waits for it. Records handled afterwards are dropped (and counted); one
// handled while Close runs may be lost. Close closes every Handler of the
// family and may be called more than once.
func (h *Handler) Close() error {
	c := h.core
	c.once.Do(func() {
		c.closed.Store(true)
		close(c.stop)
	})
	<-c.stopped
	return nil
}

// run is the publishing goroutine.
func (c *core) run() {
	defer close(c.stopped)
	var seq uint64
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	publish := func(e entry) {
		rec := Record{File: c.file, Offset: seq, Line: string(e.line), Level: levelName(e.level)}
		if !e.time.IsZero() {
			rec.Time = e.time.Format(time.RFC3339Nano)
		}
		buf.Reset()
		if err := enc.Encode(&rec); err != nil {
			return // cannot happen: every field is a string or a number
		}
		seq++
		// The hub keeps the bytes: give it its own copy.
		frame := bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		if c.room == "" {
			c.hub.PublishAll(websocket.TextMessage, frame)
		} else {
			c.hub.Publish(c.room, websocket.TextMessage, frame)
		}
		c.published.Add(1)
	}
	for {
		select {
		case e := <-c.queue:
			publish(e)
		case <-c.stop:
			for {
				select {
				case e := <-c.queue:
					publish(e)
				default:
					return
				}
			}
		}
	}
}

// levelName maps a slog level to debug, info, warn or error; levels in
// between go down to the named level below them.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// Tee returns a handler that passes each record to every handler that is
// enabled for its level: for example a stderr handler and a wslog Handler.
// It is slog.NewMultiHandler.
func Tee(handlers ...slog.Handler) slog.Handler {
	return slog.NewMultiHandler(handlers...)
}
