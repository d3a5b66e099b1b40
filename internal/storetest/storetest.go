// Package storetest is the behaviour every sockets.HistoryStore and
// sockets.PresenceStore must have, as one suite of tests that each backend
// runs against its own stores:
//
//	func TestHistory(t *testing.T) {
//		storetest.TestHistory(t, func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
//			... two handles onto one new store, closed at the end of t
//		})
//	}
//
// A backend shared by several server instances gives two handles onto the
// same store, as two instances would have; a single-process backend may
// give the same handle twice. The tests exercise what the interfaces in
// package sockets promise: order, de-duplication, recovery from a position
// (never a silent gap), limits, followers and watchers, atomic claims,
// leases, and the refusal of bad input. Every wait is bounded by
// testkit.Wait.
package storetest

import (
	"context"
	"testing"

	"github.com/macaron-contrib/sockets/internal/testkit"
)

// testContext is a context for one store call or a few, bounded by
// testkit.Wait and cancelled at the end of the test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testkit.Wait)
	t.Cleanup(cancel)
	return ctx
}
