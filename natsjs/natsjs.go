package natsjs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultTimeout bounds each call to the NATS server when Options leave
// Timeout zero: a store method waits no longer for one answer, whatever
// its context.
const DefaultTimeout = 5 * time.Second

// MinServerVersion is the oldest nats-server NewPresence accepts: per-key
// expiry that watchers see (KeyValueConfig.LimitMarkerTTL) came in 2.11.
const MinServerVersion = "2.11.0"

// Errors of the stores.
var (
	// ErrNotConnected: the NATS connection is down (reconnecting or
	// closed), so the call was not even tried. Nothing was stored.
	ErrNotConnected = errors.New("natsjs: not connected to NATS")
	// ErrIncompatible: the stream or bucket exists with settings these
	// options cannot work with. The error wrapping it names the setting.
	// The stream or bucket is left as it is.
	ErrIncompatible = errors.New("natsjs: incompatible settings")
	// ErrNoJetStream: the server, or the connection's account, has no
	// JetStream.
	ErrNoJetStream = errors.New("natsjs: JetStream is not enabled on the NATS server (start nats-server with -js) or for this account")
	// ErrServerTooOld: the server is older than MinServerVersion.
	ErrServerTooOld = errors.New("natsjs: the NATS server is too old")
)

// token encodes a room name or member key as one subject token: unpadded
// base64url (A-Z a-z 0-9 - _), which any bytes become and which is a
// valid NATS subject token and KV key.
func token(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// untoken decodes a token.
func untoken(t string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return string(b), err == nil
}

// bound returns ctx bounded by timeout as well.
func bound(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, timeout)
}

// checkConn refuses a nil or closed connection.
func checkConn(nc *nats.Conn) error {
	if nc == nil {
		return errors.New("natsjs: nil *nats.Conn")
	}
	if nc.IsClosed() {
		return fmt.Errorf("natsjs: %w", nats.ErrConnectionClosed)
	}
	return nil
}

// checkJetStream asks the server for the account's JetStream, and returns
// its API level.
func checkJetStream(ctx context.Context, js jetstream.JetStream) (int, error) {
	info, err := js.AccountInfo(ctx)
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return 0, fmt.Errorf("%w: %w", ErrNoJetStream, err)
	case err != nil:
		return 0, fmt.Errorf("natsjs: asking the NATS server for JetStream: %w", err)
	}
	return info.API.Level, nil
}

// checkServerVersion refuses a server older than MinServerVersion.
func checkServerVersion(version string) error {
	major, minor, ok := parseVersion(version)
	wantMajor, wantMinor, _ := parseVersion(MinServerVersion)
	if !ok {
		return fmt.Errorf("natsjs: cannot read the NATS server's version %q (need %s or later)", version, MinServerVersion)
	}
	if major < wantMajor || (major == wantMajor && minor < wantMinor) {
		return fmt.Errorf("%w: it is %s; presence needs nats-server %s or later, for keys that expire with a delete marker watchers see (KV LimitMarkerTTL)",
			ErrServerTooOld, version, MinServerVersion)
	}
	return nil
}

var versionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)`)

func parseVersion(v string) (major, minor int, ok bool) {
	m := versionRe.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	return major, minor, err1 == nil && err2 == nil
}

// validName reports whether s is a valid stream or bucket name.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`).MatchString

// checkPrefix reports why p cannot start subjects: dot-separated tokens
// without wildcards or whitespace.
func checkPrefix(p string) error {
	if p == "" {
		return errors.New("natsjs: empty subject prefix")
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("natsjs: subject prefix %q: tokens must be non-empty, without wildcards or whitespace", p)
		}
	}
	return nil
}

// gate runs one callback at a time for a follower or watcher, and lets
// stop wait for the callback in progress, unless stop is called from that
// callback.
type gate struct {
	mu      sync.Mutex    // held while the callback runs
	stopMu  sync.Mutex    // guards stopped
	stopped bool          // no callback starts once it is set
	stopCh  chan struct{} // closed when stopped is set
	done    chan struct{} // closed by the goroutine when it returns
}

func newGate() *gate {
	return &gate{stopCh: make(chan struct{}), done: make(chan struct{})}
}

// call runs f unless the gate is stopped; it reports whether it ran.
func (g *gate) call(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isStopped() {
		return false
	}
	f()
	return true
}

func (g *gate) isStopped() bool {
	g.stopMu.Lock()
	defer g.stopMu.Unlock()
	return g.stopped
}

// stop marks the gate stopped and calls end (which makes the goroutine
// return) once. It then waits for the goroutine, unless a callback is
// running (it may be the caller): that callback is the last.
func (g *gate) stop(end func()) {
	g.stopMu.Lock()
	first := !g.stopped
	g.stopped = true
	g.stopMu.Unlock()
	if first {
		close(g.stopCh)
		end()
	}
	if g.mu.TryLock() {
		g.mu.Unlock()
		<-g.done
	}
}

// sleep pauses for d unless the gate stops first; it reports whether the
// gate is still running.
func (g *gate) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-g.stopCh:
		return false
	}
}
