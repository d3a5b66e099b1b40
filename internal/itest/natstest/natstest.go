// Package natstest runs a NATS server in the test's process.
package natstest

import (
	"net"
	"testing"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a NATS server on 127.0.0.1 at port (-1: a random one) and
// shuts it down at the end of the test.
func Start(t *testing.T, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(testkit.Wait) {
		Stop(s)
		t.Fatalf("nats server on port %d not ready within %v", port, testkit.Wait)
	}
	t.Cleanup(func() { Stop(s) })
	return s
}

// Stop shuts s down and waits for it; it may be called twice.
func Stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// Port is the port s listens on.
func Port(t *testing.T, s *server.Server) int {
	t.Helper()
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("nats server address %v is not TCP", s.Addr())
	}
	return addr.Port
}
