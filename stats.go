package sockets

import (
	"sync"
	"sync/atomic"
)

// GroupStats counts what a Group's connections have done since the
// process started. Counters only grow; Open is the number now.
type GroupStats struct {
	Open     int    // connections open, upgrades under way included
	Accepted uint64 // upgrades done
	// Refused counts the requests refused before an upgrade, by reason:
	// "method", "host", "origin", "capacity", "shutdown", "handshake".
	Refused map[string]uint64
	// Messages and payload bytes read from clients (over the rate
	// included) and written to them (data messages only).
	MessagesIn, BytesIn, MessagesOut, BytesOut uint64
	DecodeErrors                               uint64 // messages from clients that could not be decoded
	EncodeErrors                               uint64 // values from handlers that could not be encoded
	RateLimited                                uint64 // messages over Options.MessageRate
	Panics                                     uint64 // handlers that panicked
	// ClosesSent and ClosesReceived count close frames by code: those the
	// server sent (its own, and its answers to the client's), and those
	// clients sent first.
	ClosesSent, ClosesReceived map[int]uint64
}

// Reasons a request is refused, as GroupStats.Refused names them.
const (
	refusedMethod = iota
	refusedHost
	refusedOrigin
	refusedCapacity
	refusedShutdown
	refusedHandshake
	refusalKinds
)

var refusalNames = [refusalKinds]string{"method", "host", "origin", "capacity", "shutdown", "handshake"}

// groupStats are a Group's counters. The hot path touches only each
// connection's own (Conn.received and the like); a Group adds them up when
// asked, and keeps the totals of the connections gone.
type groupStats struct {
	accepted     atomic.Uint64
	refused      [refusalKinds]atomic.Uint64
	decodeErrors atomic.Uint64
	encodeErrors atomic.Uint64
	rateLimited  atomic.Uint64
	panics       atomic.Uint64

	mu                         sync.Mutex
	inMsgs, inBytes            uint64 // of connections gone
	outMsgs, outBytes          uint64
	closesSent, closesReceived map[int]uint64
}

// ended adds a connection's counters and close frames to the totals.
func (s *groupStats) ended(c *Conn, sent, received int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inMsgs += c.received.Load()
	s.inBytes += c.receivedBytes.Load()
	s.outMsgs += c.sent.Load()
	s.outBytes += c.sentBytes.Load()
	if sent != 0 {
		if s.closesSent == nil {
			s.closesSent = make(map[int]uint64)
		}
		s.closesSent[sent]++
	}
	if received != 0 {
		if s.closesReceived == nil {
			s.closesReceived = make(map[int]uint64)
		}
		s.closesReceived[received]++
	}
}

// Stats returns the group's counters now.
func (g *Group) Stats() GroupStats {
	s := &g.stats
	out := GroupStats{
		Accepted:       s.accepted.Load(),
		Refused:        make(map[string]uint64, refusalKinds),
		DecodeErrors:   s.decodeErrors.Load(),
		EncodeErrors:   s.encodeErrors.Load(),
		RateLimited:    s.rateLimited.Load(),
		Panics:         s.panics.Load(),
		ClosesSent:     make(map[int]uint64),
		ClosesReceived: make(map[int]uint64),
	}
	for i := range s.refused {
		out.Refused[refusalNames[i]] = s.refused[i].Load()
	}
	g.mu.Lock()
	out.Open = g.active
	for c := range g.conns {
		out.MessagesIn += c.received.Load()
		out.BytesIn += c.receivedBytes.Load()
		out.MessagesOut += c.sent.Load()
		out.BytesOut += c.sentBytes.Load()
	}
	// Under g.mu, so that a connection is counted either live or gone.
	s.mu.Lock()
	out.MessagesIn += s.inMsgs
	out.BytesIn += s.inBytes
	out.MessagesOut += s.outMsgs
	out.BytesOut += s.outBytes
	for k, v := range s.closesSent {
		out.ClosesSent[k] = v
	}
	for k, v := range s.closesReceived {
		out.ClosesReceived[k] = v
	}
	s.mu.Unlock()
	g.mu.Unlock()
	return out
}
