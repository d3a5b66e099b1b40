package main

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzChatMessage drives the chat's handling of a client's frame: decoding
// (as the JSON binding does), then the checks. It must never panic, and
// whatever passes the checks must be a message the room may relay.
func FuzzChatMessage(f *testing.F) {
	for _, seed := range []string{
		`{"typ":"message","text":"hi"}`,
		`{"typ":"message","text":"<img src=x onerror=alert(1)>"}`,
		`{"typ":"message","from":"mallory","text":"spoof"}`,
		`{"typ":"history","text":"x"}`,
		`{"typ":"message","text":"   "}`,
		`{"typ":"message","text":"` + strings.Repeat("a", 5000) + `"}`,
		`not json`,
	} {
		f.Add([]byte(seed), "ann", "lobby")
	}
	f.Fuzz(func(t *testing.T, frame []byte, name, room string) {
		okName, okRoom := checkName(name) == "", checkRoom(room) == ""
		if okName && (strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > maxNameRunes || !utf8.ValidString(name)) {
			t.Fatalf("name %q accepted", name)
		}
		if okRoom && (strings.TrimSpace(room) == "" || utf8.RuneCountInString(room) > maxRoomRunes) {
			t.Fatalf("room %q accepted", room)
		}
		var m Message
		if json.Unmarshal(frame, &m) != nil {
			return
		}
		if checkMessage(&m) != "" {
			return
		}
		if m.Typ != typMessage || len(m.Text) > maxTextBytes || strings.TrimSpace(m.Text) == "" {
			t.Fatalf("message %+v passed the checks", m)
		}
	})
}
