package main

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
)

// hello is what instances say on the hello subject.
type hello struct {
	Inst string `json:"i"`
	Kind string `json:"k"` // "new", "alive", "back" or "bye"
}

func (s *natsStore) sayHello(kind string) {
	data, _ := json.Marshal(hello{Inst: s.id, Kind: kind})
	s.nc.Publish(s.helloSubject, data) // fails only when closed
}

func (s *natsStore) onHello(m *nats.Msg) {
	var h hello
	if json.Unmarshal(m.Data, &h) != nil || h.Inst == "" || h.Inst == s.id {
		return
	}
	if h.Kind == "bye" {
		s.forgetPeer(h.Inst)
		return
	}
	known := s.sawPeer(h.Inst) // a hello brings back an instance gone
	if h.Kind == "new" || h.Kind == "back" {
		s.sayHello("alive") // so that it knows of this instance at once
	}
	if h.Kind == "back" || (!known && h.Kind == "alive") {
		s.requestResync() // it may have missed events, or been forgotten
	}
}

// sawPeer notes that inst said hello and reports whether it was known.
func (s *natsStore) sawPeer(inst string) bool {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	delete(s.gone, inst)
	_, known := s.peers[inst]
	s.peers[inst] = time.Now()
	return known
}

// heardFrom notes an event, answer or request of inst, which makes an
// instance not known yet a peer (so that the members it claims expire with
// it). An instance that said bye or was forgotten for its silence within
// the last peerExpiry hello intervals is not made a peer again that way:
// heardFrom reports false, and what it sent is to be dropped. Events and
// hellos travel on different subscriptions, so a late event can follow a
// bye; and an instance that comes back after a silence is taken back by
// its next hello, whose resync brings what was dropped meanwhile.
func (s *natsStore) heardFrom(inst string) bool {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	if at, gone := s.gone[inst]; gone {
		if time.Since(at) < peerExpiry*s.helloEvery {
			return false
		}
		delete(s.gone, inst)
	}
	s.peers[inst] = time.Now()
	return true
}

func (s *natsStore) touchPeers() {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	for p := range s.peers {
		s.peers[p] = time.Now()
	}
}

// knownPeers returns the other instances known now.
func (s *natsStore) knownPeers() map[string]bool {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	out := make(map[string]bool, len(s.peers))
	for p := range s.peers {
		out[p] = true
	}
	return out
}

func (s *natsStore) expirePeers() {
	cutoff := time.Now().Add(-peerExpiry * s.helloEvery)
	var gone []string
	s.peerMu.Lock()
	for p, seen := range s.peers {
		if seen.Before(cutoff) {
			gone = append(gone, p)
		}
	}
	for p, at := range s.gone {
		if at.Before(cutoff) {
			delete(s.gone, p) // remembered long enough
		}
	}
	s.peerMu.Unlock()
	for _, p := range gone {
		s.log.Printf("chat: instance %s has not been heard of for %v: its members are shown as gone", p, peerExpiry*s.helloEvery)
		s.forgetPeer(p)
	}
}

// forgetPeer drops an instance and tells the local members that its members
// left.
func (s *natsStore) forgetPeer(inst string) {
	s.peerMu.Lock()
	delete(s.peers, inst)
	s.gone[inst] = time.Now()
	s.peerMu.Unlock()
	for name, r := range s.roomList() {
		r.mu.Lock()
		s.replacePresenceLocked(name, r, inst, nil)
		r.mu.Unlock()
	}
}

// peerCount is the number of other instances known now.
func (s *natsStore) peerCount() int {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	return len(s.peers)
}
