package sockets

import (
	"fmt"
	"log"
	"math"
	"net"
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
	defaultHubQueueBytes      = 1 << 20
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
	// published through a Hub or sent with Conn.Send; what happens when it
	// is full is the Hub's SlowClientPolicy (Send: ErrQueueFull).
	// Default: 256.
	HubQueueSize int
	// HubQueueBytes bounds the same queue in bytes of payload: a frame that
	// would take it past this bound finds it full (one frame larger than
	// the bound is queued alone). Default: 1 MiB; negative: no byte bound.
	HubQueueBytes int

	// MessageRate limits the messages a client may send, per second: the
	// reader keeps a bucket of MessageBurst tokens refilled at this rate,
	// with no timer and no goroutine. A message that finds the bucket empty
	// is handled by RateLimitPolicy. Default: 0, no limit.
	MessageRate float64
	// MessageBurst is how many messages a client may send at once.
	// Default: MessageRate rounded up, and at least 1.
	MessageBurst int
	// RateLimitPolicy says what happens to a message over the rate.
	// Default: DropOverRate.
	RateLimitPolicy RateLimitPolicy

	// MaxConnections caps the connections open in the Group: past it, a
	// request gets 503 with Retry-After before the upgrade. Default: 0,
	// no cap.
	MaxConnections int
	// MaxConnectionsPerClient caps the connections open in the Group from
	// one client (ClientAddr): past it, 503 with Retry-After. Default: 0,
	// no cap.
	MaxConnectionsPerClient int
	// ClientAddr names the client of a request, for
	// MaxConnectionsPerClient. Behind a proxy you trust, return the
	// address it forwards (and only then: a client can write any header).
	// Default: the host of the request's RemoteAddr.
	ClientAddr func(r *http.Request) string
	// AllowedHosts lists the Host values a request may carry: a name with
	// or without its port ("localhost", "localhost:4000"), or "*." and a
	// domain for its subdomains ("*.example.com"), compared without regard
	// to case. Any other Host gets 403 before the upgrade. This is the
	// guard against DNS rebinding, by which a web page reaches a server
	// bound to localhost under a name of its own and passes the Origin
	// check. Default: none, every Host is allowed.
	AllowedHosts []string

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
	switch {
	case o.HubQueueBytes == 0:
		o.HubQueueBytes = defaultHubQueueBytes
	case o.HubQueueBytes < 0:
		o.HubQueueBytes = 0 // no byte bound
	}
	if o.MessageRate > 0 && o.MessageBurst <= 0 {
		o.MessageBurst = int(math.Ceil(o.MessageRate))
	}
	if o.ClientAddr == nil {
		o.ClientAddr = remoteHost
	}
	o.AllowedHosts = append([]string(nil), o.AllowedHosts...)
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
	case o.MessageRate < 0 || math.IsNaN(o.MessageRate) || math.IsInf(o.MessageRate, 0):
		return nil, fmt.Errorf("sockets: Options.MessageRate must be a positive number or 0, got %v", o.MessageRate)
	case o.MaxConnections < 0 || o.MaxConnectionsPerClient < 0:
		return nil, fmt.Errorf("sockets: connection caps must not be negative (MaxConnections %d, MaxConnectionsPerClient %d)", o.MaxConnections, o.MaxConnectionsPerClient)
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

// RateLimitPolicy says what happens to a message a client sends over
// Options.MessageRate.
type RateLimitPolicy int

const (
	// DropOverRate drops the message and reports ErrRateLimited on the
	// errors channel; the connection stays. The default.
	DropOverRate RateLimitPolicy = iota
	// CloseOverRate closes the connection with 1008 (policy violation).
	CloseOverRate
)

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
