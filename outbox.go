package sockets

import (
	"sync"

	"github.com/gorilla/websocket"
)

// outbox is a connection's bounded queue of frames published through a
// Hub. It holds no memory while empty (an idle connection pays for one
// small channel), and the writer takes everything queued in one step.
type outbox struct {
	mu     sync.Mutex
	frames []*websocket.PreparedMessage
	max    int
	// wake has room for one signal: the writer has something to look at
	// (frames queued, a ping due, or shutdown begun).
	wake chan struct{}
}

func newOutbox(max int) *outbox {
	return &outbox{max: max, wake: make(chan struct{}, 1)}
}

// push queues pm without blocking; it reports false when the outbox is full.
func (o *outbox) push(pm *websocket.PreparedMessage) bool {
	o.mu.Lock()
	if len(o.frames) >= o.max {
		o.mu.Unlock()
		return false
	}
	o.frames = append(o.frames, pm)
	o.mu.Unlock()
	o.signal()
	return true
}

// signal wakes the writer without blocking.
func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default: // a signal is pending already
	}
}

// pending reports whether frames are queued.
func (o *outbox) pending() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames) > 0
}

// take returns every queued frame, in order, leaving spare (emptied by the
// caller) in their place, so that two slices serve a connection's life.
func (o *outbox) take(spare []*websocket.PreparedMessage) []*websocket.PreparedMessage {
	o.mu.Lock()
	frames := o.frames
	o.frames = spare[:0]
	o.mu.Unlock()
	return frames
}

// maxKeptFrames is the largest slice the writer keeps between bursts.
const maxKeptFrames = 1024
