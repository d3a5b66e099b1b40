package main

import "fmt"

// What another instance sends is checked as what a client sends is: anyone
// who can publish on the chat's subjects (or an instance with a bug) could
// send it, and it reaches browsers and rooms' state. Whatever fails a check
// is dropped and counted in the store's Malformed counter ("malformed"
// under "chat_nats" in /debug/vars); the first one is logged.
//
//   - An event or an answer names its instance: it must name one, and not
//     this one (an instance never hears its own messages: the broker skips
//     them). An instance not known yet is taken as a peer (sawPeer), so
//     that the members it claims are forgotten with it when it goes silent,
//     as any other's: dropping its events instead would lose those of a
//     real instance heard from before its hello. Until it is forgotten,
//     queries wait for its answer (PeerTimeout at most), as for any peer.
//     An instance that said bye or was forgotten lately is taken back by a
//     hello only (see heardFrom).
//   - Names (an event's From, an answer's members, reserved names and
//     history) must pass checkName, texts checkMessage, as a local client's
//     would; a status is "joined" or "left"; no other frame type crosses
//     instances.
//   - Frames are rebuilt from the checked fields: no remote frame reaches a
//     browser verbatim. Nor is anything published to every room (the
//     chat publishes nothing there: see relay).
//   - Clocks: see maxClockLead.

// maxClockLead is how far ahead of a room's Lamport clock another
// instance's clock may be. A clock moves one step per event, so an honest
// instance is never 2^32 events ahead of the room's clock here (the room
// is new here, its clock 0, at worst); a clock further ahead is refused,
// or one event could bring the room's clock next to its maximum, after
// which this instance's events would not come after it. A publisher can
// still move the clock 2^32 steps per event; past 2^64-1, the clock stays
// there (see publishLocked).
const maxClockLead uint64 = 1 << 32

// refuse counts something that came from NATS for room and cannot be used,
// and logs the first one.
func (s *natsStore) refuse(room, why string) {
	if s.malformed.Add(1) == 1 {
		s.log.Printf("chat: dropping what NATS brought for room %q: %s (logged once; counted in chat_nats.malformed)", room, why)
	}
}

// checkSender returns why an event or answer claiming to come from inst is
// refused, or "".
func (s *natsStore) checkSender(inst string) string {
	switch inst {
	case "":
		return "it names no instance"
	case s.id:
		return "it claims to come from this instance"
	}
	return ""
}

// checkRemoteFrame returns why a frame another instance published cannot be
// delivered here, or "".
func checkRemoteFrame(m *Message) string {
	switch m.Typ {
	case typMessage:
		if reason := checkName(m.From); reason != "" {
			return reason
		}
		return checkMessage(m)
	case typStatus:
		if reason := checkName(m.From); reason != "" {
			return reason
		}
		if m.Text != "joined" && m.Text != "left" {
			return fmt.Sprintf("unknown status %.40q", m.Text)
		}
		return ""
	}
	return fmt.Sprintf("frame type %.40q does not cross instances", m.Typ)
}

// checkHistEntry returns why a message of another instance's history
// cannot be merged, or "". It may be one of this instance's own.
func checkHistEntry(h *histEntry) string {
	if h.Inst == "" {
		return "a history message names no instance"
	}
	return checkRemoteFrame(&Message{Typ: typMessage, From: h.From, Text: h.Text})
}

// validNames returns the names of list that pass checkName, and counts the
// others.
func (s *natsStore) validNames(room string, list []string) []string {
	out := list[:0:0]
	for _, n := range list {
		if reason := checkName(n); reason != "" {
			s.refuse(room, "a member's name: "+reason)
			continue
		}
		out = append(out, n)
	}
	return out
}

// plausibleClockLocked reports whether clock may come from an honest
// instance: at most maxClockLead ahead of the room's. r.mu is held.
func (r *natsRoom) plausibleClockLocked(clock uint64) bool {
	return clock <= r.clock || clock-r.clock <= maxClockLead
}
