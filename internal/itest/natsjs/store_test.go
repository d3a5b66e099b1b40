package natsjs_test

import (
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/storetest"
	"github.com/macaron-contrib/sockets/natsjs"
)

// TestHistoryStore runs the behaviour every history store must have: two
// instances, each with its own connection, on one stream of one server.
func TestHistoryStore(t *testing.T) {
	s := startJS(t)
	storetest.TestHistory(t, func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
		name := uniqueName("H")
		o := &natsjs.HistoryOptions{HistoryOptions: opts, Stream: name, SubjectPrefix: "test." + name}
		a = newHistory(t, dial(t, s.ClientURL()), o)
		b = newHistory(t, dial(t, s.ClientURL()), o)
		return a, b
	})
}

// TestPresenceStore runs the behaviour every presence store must have: two
// instances, each with its own connection, on one bucket of one server. A
// crash is a's connection closed without a release: its keys expire.
func TestPresenceStore(t *testing.T) {
	s := startJS(t)
	storetest.TestPresence(t, func(t *testing.T, opts sockets.PresenceOptions) (a, b sockets.PresenceStore, crashA func()) {
		o := &natsjs.PresenceOptions{PresenceOptions: opts, Bucket: uniqueName("P")}
		ncA := dial(t, s.ClientURL())
		a = newPresence(t, ncA, o)
		b = newPresence(t, dial(t, s.ClientURL()), o)
		return a, b, ncA.Close
	})
}
