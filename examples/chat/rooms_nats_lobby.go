package main

import (
	"cmp"
	"encoding/json"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
)

// roomsAnswer is an instance's answer to the lobby's question: its members
// per room.
type roomsAnswer struct {
	Inst  string         `json:"i"`
	Rooms map[string]int `json:"rooms"`
}

// Rooms counts the members of every instance: this one's, those the others
// say they have when asked (a query on PREFIX.chat.rooms, waiting as long
// as a state query), and, for instances that did not answer, those known
// from their events.
func (s *natsStore) Rooms() []roomInfo {
	counts := make(map[string]int)
	known := make(map[string]map[string]int) // instance -> room -> members, as last known
	for name, r := range s.roomList() {
		r.mu.Lock()
		counts[name] += len(r.present)
		for inst, names := range r.remote {
			if known[inst] == nil {
				known[inst] = make(map[string]int)
			}
			known[inst][name] = len(names)
		}
		r.mu.Unlock()
	}
	answered := s.askRooms()
	for _, rooms := range answered {
		for name, n := range rooms {
			counts[name] += n
		}
	}
	for inst, rooms := range known {
		if _, ok := answered[inst]; ok {
			continue
		}
		for name, n := range rooms {
			counts[name] += n
		}
	}
	var out []roomInfo
	for name, n := range counts {
		if n > 0 {
			out = append(out, roomInfo{Name: name, Members: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Members != out[j].Members {
			return out[i].Members > out[j].Members
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// askRooms asks the other instances for their members per room. Rooms
// whose name fails checkRoom, or said to have no members, are dropped and
// counted as malformed.
func (s *natsStore) askRooms() map[string]map[string]int {
	out := make(map[string]map[string]int)
	if !s.nc.IsConnected() || s.down.Load() {
		return out
	}
	want := s.knownPeers()
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return out
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest(s.roomsSubject, inbox, []byte(s.id)); err != nil {
		return out
	}
	end := time.Now().Add(s.timeout)
	for {
		stopAt := end
		if len(want) == 0 { // all known answered: wait only for the unknown, while new
			if !s.warmUntil.After(time.Now()) {
				return out
			}
			if s.warmUntil.Before(end) {
				stopAt = s.warmUntil
			}
		}
		left := time.Until(stopAt)
		if left <= 0 {
			return out
		}
		m, err := sub.NextMsg(left)
		if err != nil {
			return out
		}
		var a roomsAnswer
		if json.Unmarshal(m.Data, &a) != nil || a.Inst == "" || a.Inst == s.id {
			continue
		}
		if !s.heardFrom(a.Inst) {
			continue // gone lately: see heardFrom
		}
		rooms := make(map[string]int, len(a.Rooms))
		for name, n := range a.Rooms {
			if reason := checkRoom(name); reason != "" || n <= 0 {
				s.refuse(name, "a lobby answer: "+cmp.Or(reason, "no members"))
				continue
			}
			rooms[name] = n
		}
		out[a.Inst] = rooms
		delete(want, a.Inst)
	}
}

func (s *natsStore) onRoomsRequest(m *nats.Msg) {
	if string(m.Data) == s.id || m.Reply == "" {
		return
	}
	a := roomsAnswer{Inst: s.id, Rooms: make(map[string]int)}
	for name, r := range s.roomList() {
		r.mu.Lock()
		if n := len(r.present); n > 0 {
			a.Rooms[name] = n
		}
		r.mu.Unlock()
	}
	data, _ := json.Marshal(a)
	m.Respond(data)
}
