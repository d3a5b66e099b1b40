package natsbroker

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit"
)

// oddRooms are awkward room names (the same list in natsbroker's own
// tests and across a NATS server in internal/itest/natsbroker).
var oddRooms = testkit.OddRooms(MaxPlainRoomLen)

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestRoomSubject(t *testing.T) {
	if got := RoomSubject("", ""); got != "sockets.rooms.all" {
		t.Errorf(`RoomSubject("", "") = %q`, got)
	}
	if got := RoomSubject("app.x", "lobby"); got != "app.x.room.bG9iYnk" {
		t.Errorf(`RoomSubject("app.x", "lobby") = %q`, got)
	}
	seen := map[string]string{}
	for _, room := range oddRooms {
		subj := RoomSubject("p", room)
		if prev, dup := seen[subj]; dup {
			t.Errorf("rooms %q and %q share subject %s", prev, room, subj)
		}
		seen[subj] = room
		toks := strings.Split(subj, ".")
		if len(toks) != 3 || toks[0] != "p" || !tokenRE.MatchString(toks[2]) {
			t.Errorf("room %q: subject %q is not p.KIND.TOKEN with a plain token", room, subj)
			continue
		}
		switch {
		case len(room) <= MaxPlainRoomLen:
			dec, err := base64.RawURLEncoding.DecodeString(toks[2])
			if toks[1] != "room" || err != nil || string(dec) != room {
				t.Errorf("room %q: subject %q does not decode back (%q, %v)", room, subj, dec, err)
			}
		default:
			if toks[1] != "hroom" || len(toks[2]) != 43 {
				t.Errorf("long room: subject %q, want p.hroom.<43-char digest>", subj)
			}
		}
	}
}

func TestInvalidPrefix(t *testing.T) {
	for _, p := range []string{".a", "a.", "a..b", "a.*", "a.>", "a b"} {
		if _, err := Connect("nats://127.0.0.1:1", Options{Prefix: p}); err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: err = %v, want an invalid prefix error", p, err)
		}
	}
}

func TestConnectFailsFast(t *testing.T) {
	addr := testkit.UnusedAddr(t)
	start := time.Now()
	b, err := Connect("nats://"+addr, Options{})
	if err == nil {
		b.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Connect took %v to fail", d)
	}
}
