package sockets_test

import (
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/storetest"
)

// The in-memory stores pass the behaviour suite every store passes (natsjs
// runs it on JetStream). One process: the same handle serves as both
// instances.
func TestMemoryHistory(t *testing.T) {
	storetest.TestHistory(t, func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
		s := sockets.NewMemoryHistory(&opts)
		t.Cleanup(func() { s.Close() })
		return s, s
	})
}

func TestMemoryPresence(t *testing.T) {
	storetest.TestPresence(t, func(t *testing.T, opts sockets.PresenceOptions) (a, b sockets.PresenceStore, crashA func()) {
		s := sockets.NewMemoryPresence(&opts)
		t.Cleanup(func() { s.Close() })
		return s, s, nil
	})
}
