package sockets

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

// Log levels for Options.LogLevel. A message is logged when its level is at
// or below the configured one; the zero value logs errors only.
const (
	LogLevelError = iota
	LogLevelWarning
	LogLevelInfo
	LogLevelDebug
)

// Defaults applied to zero fields of Options; each field's doc says its
// own.
const (
	defaultWriteWait          = 60 * time.Second
	defaultPongWait           = 60 * time.Second
	defaultMaxMessageSize     = 65536
	defaultReadBufferSize     = 256
	defaultChannelBuffer      = 10
	defaultAllowedOrigin      = "https?://{{host}}$"
	defaultHubQueueSize       = 256
	defaultErrorChannelBuffer = 10
)

// Options configures a binding. A nil *Options, or a zero field, means the
// default for that field; the caller's struct is never modified.
type Options struct {
	// Logger receives the binding's log lines.
	// Default: log.New(os.Stdout, "[sockets] ", 0).
	Logger *log.Logger
	// LogLevel is the most verbose level logged (LogLevelError ...
	// LogLevelDebug). Default: LogLevelError. Payloads are logged only at
	// LogLevelDebug.
	LogLevel int
	// SkipLogging turns logging off entirely.
	SkipLogging bool

	// WriteWait bounds each burst of writes (and each control frame). On a
	// connection that writes steadily the deadline is moved in steps of
	// 1/32 of WriteWait, so a write may time out that much earlier.
	// Default: 60s.
	WriteWait time.Duration
	// PongWait is how long the connection may stay silent (no pong, no
	// message) before it is considered dead. A stream of messages moves
	// the deadline in steps of 1/32 of PongWait; while the handler is busy
	// and a message waits for it, nothing is read, and the wait starts over
	// once the handler takes the message. Default: 60s.
	PongWait time.Duration
	// PingPeriod is how often the writer sends a ping. It must be shorter
	// than PongWait; a handler made with PingPeriod >= PongWait panics.
	// Default: 8/10 of PongWait, which is 48s with the default PongWait.
	PingPeriod time.Duration
	// MaxMessageSize is the largest message accepted from a client, in
	// bytes, measured after decompression. A larger one closes the
	// connection with 1009. Default: 65536.
	MaxMessageSize int64

	// SendChannelBuffer is the capacity of the sender channel. Default: 10;
	// a negative value makes the channel unbuffered.
	SendChannelBuffer int
	// RecvChannelBuffer is the capacity of the receiver channel. Default:
	// 10; a negative value makes the channel unbuffered.
	RecvChannelBuffer int
	// ErrorChannelBuffer is the capacity of the errors channel. Errors that
	// find it full are dropped (and logged at LogLevelWarning). Default: 10.
	ErrorChannelBuffer int
	// HubQueueSize is the capacity of the connection's queue of frames
	// published through a Hub; what happens when it is full is the Hub's
	// SlowClientPolicy. Default: 256.
	HubQueueSize int

	// AllowedOrigin is a regular expression the request's Origin header must
	// match as a whole (it is anchored at both ends). "{{host}}" stands for
	// the request's Host, taken literally. Requests without an Origin
	// header (non-browser clients) are allowed. Default: "https?://{{host}}$".
	AllowedOrigin string
	// CheckOrigin, when set, replaces the AllowedOrigin check: it returns
	// true to accept the request. Default: nil (use AllowedOrigin).
	CheckOrigin func(r *http.Request) bool
	// Subprotocols lists the server's supported subprotocols in order of
	// preference; the first one the client also offers is selected.
	// Default: none.
	Subprotocols []string
	// EnableCompression negotiates permessage-deflate when the client offers
	// it. MaxMessageSize still bounds the decompressed message.
	// Default: false.
	EnableCompression bool
	// ReadBufferSize is the size of gorilla's buffered reader, which the
	// connection keeps for its life. During a flood of messages input is
	// staged in a pooled 4 KiB buffer, so a small one costs no extra system
	// calls. Default: 256 bytes (gorilla raises anything below 125).
	ReadBufferSize int
	// Group is the set of connections that Shutdown closes together.
	// Default: DefaultGroup.
	Group *Group
	// HandshakeTimeout bounds writing the upgrade response. Default: 0
	// (the HTTP server's own timeouts apply).
	HandshakeTimeout time.Duration
}

// prepareOptions merges opts[0], when there is one and it is not nil, with
// the defaults into a fresh copy; later elements are ignored, as in
// go-macaron/sockets. It reports settings that cannot work.
func prepareOptions(opts []*Options) (*Options, error) {
	o := &Options{}
	if len(opts) > 0 && opts[0] != nil {
		*o = *opts[0]
		o.Subprotocols = append([]string(nil), opts[0].Subprotocols...)
	}
	if o.Logger == nil {
		o.Logger = log.New(os.Stdout, "[sockets] ", 0)
	}
	setDuration(&o.WriteWait, defaultWriteWait)
	setDuration(&o.PongWait, defaultPongWait)
	setDuration(&o.PingPeriod, o.PongWait*8/10)
	if o.ReadBufferSize == 0 {
		o.ReadBufferSize = defaultReadBufferSize
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	o.SendChannelBuffer = bufferSize(o.SendChannelBuffer, defaultChannelBuffer)
	o.RecvChannelBuffer = bufferSize(o.RecvChannelBuffer, defaultChannelBuffer)
	o.ErrorChannelBuffer = bufferSize(o.ErrorChannelBuffer, defaultErrorChannelBuffer)
	o.HubQueueSize = bufferSize(o.HubQueueSize, defaultHubQueueSize)
	if o.Group == nil {
		o.Group = DefaultGroup
	}
	if o.AllowedOrigin == "" {
		o.AllowedOrigin = defaultAllowedOrigin
	}

	switch {
	case o.WriteWait < 0 || o.PongWait < 0 || o.PingPeriod < 0:
		return nil, fmt.Errorf("sockets: negative timeout in Options (WriteWait %v, PongWait %v, PingPeriod %v)", o.WriteWait, o.PongWait, o.PingPeriod)
	case o.PingPeriod >= o.PongWait:
		return nil, fmt.Errorf("sockets: Options.PingPeriod (%v) must be shorter than PongWait (%v), or a live client is dropped before it can answer a ping", o.PingPeriod, o.PongWait)
	case o.MaxMessageSize < 0:
		return nil, fmt.Errorf("sockets: Options.MaxMessageSize must not be negative, got %d", o.MaxMessageSize)
	case o.ReadBufferSize < 0:
		return nil, fmt.Errorf("sockets: Options.ReadBufferSize must not be negative, got %d", o.ReadBufferSize)
	case o.HubQueueSize == 0:
		// A hub queue must hold at least one frame.
		o.HubQueueSize = 1
	}
	return o, nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// bufferSize maps the documented zero (default) and negative (unbuffered)
// values to a channel capacity.
func bufferSize(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}
