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
	known := s.sawPeer(h.Inst)
	if h.Kind == "new" || h.Kind == "back" {
		s.sayHello("alive") // so that it knows of this instance at once
	}
	if h.Kind == "back" || (!known && h.Kind == "alive") {
		s.requestResync() // it may have missed events, or been forgotten
	}
}

// sawPeer notes that inst is alive and reports whether it was known.
func (s *natsStore) sawPeer(inst string) bool {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	_, known := s.peers[inst]
	s.peers[inst] = time.Now()
	return known
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
