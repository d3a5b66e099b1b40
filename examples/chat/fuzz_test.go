package main

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
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
	f.Add([]byte(`{"typ":"message","text":"hi"}`), "ann\u200b", " general ")
	f.Fuzz(func(t *testing.T, frame []byte, name, room string) {
		okName, okRoom := checkName(name) == "", checkRoom(room) == ""
		if okName && (strings.TrimSpace(name) != name || name == "" || utf8.RuneCountInString(name) > maxNameRunes ||
			!utf8.ValidString(name) || strings.ContainsFunc(name, controlOrFormat)) {
			t.Fatalf("name %+q accepted", name)
		}
		if okRoom && (strings.TrimSpace(room) != room || room == "" || utf8.RuneCountInString(room) > maxRoomRunes ||
			!utf8.ValidString(room) || strings.ContainsFunc(room, controlOrFormat) || room == "." || room == "..") {
			t.Fatalf("room %+q accepted", room)
		}
		// What the ways in accept, they accept trimmed.
		if cleaned, reason := cleanRoom(room); reason == "" && (cleaned != strings.TrimSpace(room) || checkRoom(cleaned) != "") {
			t.Fatalf("room %+q cleaned to %+q", room, cleaned)
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

// controlOrFormat reports whether r is a control or format character
// (categories Cc and Cf), which names must not have.
func controlOrFormat(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) }
