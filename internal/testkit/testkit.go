// Package testkit holds what the module's tests share: one bound for their
// waits, polling a condition until it holds, a WebSocket dial and an HTTP
// fetch, a serve loop in the background, a log sink safe for concurrent
// use, a TCP proxy that can cut or silence its connections, and a way to
// run a test binary as its own command. Browser and NATS helpers live in
// the sub-packages browser and natstest, so that tests which need neither
// do not link them.
package testkit

import (
	"bytes"
	"sync"
	"time"
)

// Wait bounds the waits of these helpers, and every wait of the tests that
// use them.
const Wait = 10 * time.Second

// SyncBuffer is a bytes.Buffer safe for concurrent use: a log sink.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
