package natsjs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// TestMain fails the run when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastReconnect makes a client notice a restarted server quickly.
var fastReconnect = []nats.Option{
	nats.MaxReconnects(-1),
	nats.ReconnectWait(20 * time.Millisecond),
	nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
}

// startJS runs a JetStream server keeping its streams in a directory of
// the test's.
func startJS(t testing.TB) *server.Server {
	t.Helper()
	return natstest.StartJetStream(t, -1, t.TempDir())
}

// dial is a client connection, closed at the end of the test.
func dial(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append(append([]nats.Option(nil), fastReconnect...), opts...)...)
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ctxT is a context bounded by testkit.Wait.
func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testkit.Wait)
	t.Cleanup(cancel)
	return ctx
}

var names atomic.Int64

// uniqueName is a stream or bucket name no other test of the run uses.
func uniqueName(what string) string { return fmt.Sprintf("%s_%d", what, names.Add(1)) }

// newHistory is NewHistory, closed at the end of the test.
func newHistory(t testing.TB, nc *nats.Conn, opts *natsjs.HistoryOptions) *natsjs.History {
	t.Helper()
	h, err := natsjs.NewHistory(ctxT(t), nc, opts)
	if err != nil {
		t.Fatalf("NewHistory: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newPresence is NewPresence, closed at the end of the test.
func newPresence(t *testing.T, nc *nats.Conn, opts *natsjs.PresenceOptions) *natsjs.Presence {
	t.Helper()
	p, err := natsjs.NewPresence(ctxT(t), nc, opts)
	if err != nil {
		t.Fatalf("NewPresence: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
