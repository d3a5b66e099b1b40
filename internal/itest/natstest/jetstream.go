package natstest

import (
	"testing"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// StartJetStream runs a NATS server with JetStream on 127.0.0.1 at port
// (-1: a random one), keeping its streams in storeDir, and shuts it down
// at the end of the test. Started again with the same port and storeDir
// after Stop, it is the same server restarted: its streams are still there.
func StartJetStream(t testing.TB, port int, storeDir string) *server.Server {
	t.Helper()
	return StartWith(t, &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  storeDir,
	})
}

// StartWith runs a NATS server with opts, waits until it accepts clients
// (and, with JetStream on, until JetStream is ready) and shuts it down at
// the end of the test.
func StartWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(testkit.Wait) {
		Stop(s)
		t.Fatalf("nats server on port %d not ready within %v", opts.Port, testkit.Wait)
	}
	if opts.JetStream && !s.JetStreamEnabled() {
		Stop(s)
		t.Fatalf("nats server on port %d: JetStream is not enabled", opts.Port)
	}
	t.Cleanup(func() { Stop(s) })
	return s
}
