package main

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/macaron-contrib/sockets"
)

// invisibleNames look like "ann", or like nothing, but are not.
var invisibleNames = []struct{ what, name string }{
	{"zero-width space", "ann\u200b"},
	{"word joiner", "ann\u2060"},
	{"right-to-left override", "\u202eann"},
	{"left-to-right mark", "ann\u200e"},
	{"right-to-left isolate", "\u2067ann"},
	{"arabic letter mark", "ann\u061c"},
	{"zero-width joiner", "an\u200dn"},
	{"soft hyphen", "an\u00adn"},
	{"byte order mark", "\ufeffann"},
	{"tag character", "ann\U000E0041"},
	{"variation selector", "ann\ufe0f"},
	{"combining grapheme joiner", "ann\u034f"},
	{"hangul filler", "ann\u3164"},
	{"line separator", "an\u2028n"},
	{"braille blank", "ann\u2800"},
	{"private use", "ann\ue000"},
	{"control character", "a\x01b"},
	{"invalid UTF-8", "ann\xff"},
}

func TestInvisibleCharactersAreRefused(t *testing.T) {
	for _, tc := range invisibleNames {
		if reason := checkName(tc.name); !strings.HasPrefix(reason, "invalid name: ") {
			t.Errorf("name with a %s, %+q: got %q, want it refused", tc.what, tc.name, reason)
		}
		if reason := checkRoom(tc.name); !strings.HasPrefix(reason, "invalid room: ") {
			t.Errorf("room with a %s, %+q: got %q, want it refused", tc.what, tc.name, reason)
		}
	}
	for _, ok := range []string{"ann", "Zoë", "José", "日本語", "ann 2", "ann😀", "a/b", "...", ".x"} {
		if reason := checkName(ok); reason != "" {
			t.Errorf("name %q refused: %s", ok, reason)
		}
		if reason := checkRoom(ok); reason != "" {
			t.Errorf("room %q refused: %s", ok, reason)
		}
	}
	if got, want := checkName("ann\u200b"), "invalid name: has an invisible or control character (U+200B)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLookalikeNamesAreRefusedEverywhere: ann is in the room; whoever tries
// her name with an invisible character in it gets 400, on every way in.
func TestLookalikeNamesAreRefusedEverywhere(t *testing.T) {
	ts := newTestServer(t)
	ts.join(t, "general", "ann")
	for _, tc := range invisibleNames {
		t.Run(tc.what, func(t *testing.T) {
			ws, status, body, err := ts.dial("general", tc.name)
			if err == nil {
				ws.Close()
				t.Fatalf("%+q upgraded beside ann", tc.name)
			}
			if status != http.StatusBadRequest || !strings.Contains(body, "invalid name") {
				t.Errorf("socket: got %d %q, want 400 saying invalid name", status, body)
			}
			ws, status, body, err = ts.dial(tc.name, "bob")
			if err == nil {
				ws.Close()
				t.Fatalf("room %+q upgraded", tc.name)
			}
			if status != http.StatusBadRequest || !strings.Contains(body, "invalid room") {
				t.Errorf("socket, as a room: got %d %q, want 400 saying invalid room", status, body)
			}
			resp, page := get(t, ts.URL+"/join?room=general&name="+url.QueryEscape(tc.name))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "invalid name") {
				t.Errorf("lobby form: got %d, want 400 saying invalid name", resp.StatusCode)
			}
			_, page = get(t, ts.URL+"/rooms/general?name="+url.QueryEscape(tc.name))
			if !strings.Contains(page, `id="name-form"`) || !strings.Contains(page, "invalid name") {
				t.Errorf("room page: want the name form saying invalid name\n%s", page)
			}
		})
	}
}

// TestRoomNamesAreTrimmedEverywhere: "general " is "general" on the socket
// route and the room's page as in the lobby's form, and "." and "..",
// which a browser cannot open, are no rooms.
func TestRoomNamesAreTrimmedEverywhere(t *testing.T) {
	ts := newTestServer(t)
	ts.join(t, "general", "ann")
	bob := ts.join(t, " general ", "bob")
	if want := []string{"ann", "bob"}; !reflect.DeepEqual(bob.members, want) {
		t.Errorf("bob in \" general \" is with %q, want %q", bob.members, want)
	}
	if got, _ := ts.app.hub.PresenceRooms(context.Background()); !reflect.DeepEqual(got, []sockets.RoomCount{{Room: "general", Members: 2}}) {
		want := "general with 2"
		t.Errorf("rooms %+v, want %+v", got, want)
	}
	_, page := get(t, ts.URL+"/rooms/general%20?name=cat")
	if !strings.Contains(page, `data-room="general"`) {
		t.Errorf("the page of \"general \" is not general's:\n%s", page)
	}

	for _, room := range []string{".", "..", " .. "} {
		ws, status, body, err := ts.dial(room, "ann")
		if err == nil {
			ws.Close()
			t.Errorf("room %q upgraded", room)
		} else if status != http.StatusBadRequest || !strings.Contains(body, "invalid room") {
			t.Errorf("socket for room %q: got %d %q, want 400", room, status, body)
		}
		resp, page := get(t, ts.URL+"/join?name=ann&room="+url.QueryEscape(room))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "invalid room") {
			t.Errorf("lobby form for room %q: got %d, want 400 saying invalid room", room, resp.StatusCode)
		}
		if resp, _ := get(t, ts.URL+"/rooms/"+strings.ReplaceAll(url.PathEscape(room), ".", "%2E")); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("page of room %q: got %d, want 400", room, resp.StatusCode)
		}
	}
	// Nor are they names: a socket's URL ends with the name.
	for _, name := range []string{".", ".."} {
		if reason := checkName(name); !strings.Contains(reason, "invalid name") {
			t.Errorf("name %q: got %q, want it refused", name, reason)
		}
	}
}
