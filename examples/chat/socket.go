package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsjs"
	"gopkg.in/macaron.v1"
)

// member is who a socket request is for.
type member struct{ room, name string }

// storeTimeout bounds each call to the stores a request waits for.
const storeTimeout = 5 * time.Second

// validate checks a socket request's room and name before the upgrade
// (400), for the hub to claim the name in the room on every instance (409
// when taken) for the whole connection.
func (a *app) validate(ctx *macaron.Context) (room, name string, info []byte, ok bool) {
	room, reason := cleanRoom(ctx.Params(":name"))
	name, nameReason := cleanName(ctx.Params(":clientname"))
	if reason = cmp.Or(reason, nameReason); reason != "" {
		http.Error(ctx.Resp, reason, http.StatusBadRequest)
		return "", "", nil, false
	}
	ctx.Map(member{room: room, name: name})
	return room, name, nil, true
}

// serveSocket runs one member's connection: it enters the room, then relays
// what the client says until the connection ends.
func (a *app) serveSocket(c *sockets.Conn, who member, claim sockets.Claim, receiver <-chan *Message, done <-chan bool, errs <-chan error) {
	if err := a.enter(c, who); err != nil {
		a.log.Printf("chat: %s could not enter %q: %v", who.name, who.room, err)
		c.Close(websocket.CloseTryAgainLater, "could not join the room, try again")
		return
	}
	for {
		select {
		case m := <-receiver:
			if reason := checkMessage(m); reason != "" {
				sendFrame(c, Message{Typ: typError, Text: reason})
				continue
			}
			// Stored, then sent to the others; m.From is the client's word,
			// the name is the server's.
			_, data := frame(Message{Typ: typMessage, From: who.name, Text: m.Text})
			if err := a.hub.PublishExcept(who.room, c, sockets.TextMessage, data); err != nil {
				a.log.Printf("chat: %s in %q: %v", who.name, who.room, err)
				why := "not sent, the chat's storage is unavailable: "
				if !errors.Is(err, natsjs.ErrNotConnected) {
					why = "not confirmed, the chat's storage did not answer (it may not have been sent): "
				}
				sendFrame(c, Message{Typ: typError, Text: why + m.Text})
			}
		case err := <-errs:
			var de *sockets.DecodeError
			if errors.As(err, &de) {
				sendFrame(c, Message{Typ: typError, Text: "invalid frame: not a JSON message"})
			}
		case <-claim.Lost(): // NATS out for longer than the lease: the name may be another's
			c.Close(websocket.CloseTryAgainLater, "lost the name, reconnect")
			return
		case <-done:
			return
		}
	}
}

// enter joins the member to the room: with ?since=POS (a page
// reconnecting), it gets what it missed; otherwise, or when that cannot be
// recovered, the last messages as "history" frames. Then the members
// (then "status" frames), and live messages, with no gap and no duplicate.
func (a *app) enter(c *sockets.Conn, who member) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	join := sockets.JoinOptions{Last: a.cfg.HistorySize, Replay: historyFrame, Presence: true, Key: who.name}
	if raw := c.Request().URL.Query().Get("since"); raw != "" {
		resume := join
		since, err := sockets.ParsePosition(raw)
		if resume.Since = since; err == nil {
			if err = a.hub.JoinWith(ctx, who.room, c, resume); !errors.Is(err, sockets.ErrCannotRecover) {
				return err
			}
		}
		reset := Message{Typ: typError, Error: "reload", Text: "some messages could not be recovered: the history follows"}
		if err := sendFrame(c, reset); err != nil {
			return err
		}
	}
	return a.hub.JoinWith(ctx, who.room, c, join)
}

// historyFrame is a stored message as a joiner gets it: a "history" frame.
func historyFrame(rec sockets.Record) (int, []byte) {
	var m Message
	json.Unmarshal(rec.Data, &m)
	m.Typ, m.Pos = typHistory, rec.Pos.String()
	return frame(m)
}

// presenceFrames tell a member who is in the room: the names there as it
// joins ("members"), then who joins and leaves ("status").
var presenceFrames = &sockets.PresenceFrames{
	Members: func(_ string, names []string) (int, []byte) {
		list, _ := json.Marshal(names)
		return frame(Message{Typ: typMembers, Text: string(list)})
	},
	Event: func(_ string, ev sockets.PresenceEvent) (int, []byte) {
		return frame(Message{Typ: typStatus, From: ev.Key, Text: map[bool]string{false: "joined", true: "left"}[ev.Left]})
	},
}

// frame encodes m.
func frame(m Message) (int, []byte) {
	data, _ := json.Marshal(m)
	return sockets.TextMessage, data
}

// sendFrame queues m for c, after what the hub queued before.
func sendFrame(c *sockets.Conn, m Message) error {
	_, data := frame(m)
	return c.Send(sockets.TextMessage, data)
}

// checkMessage returns why a client's frame is refused, or "".
func checkMessage(m *Message) string {
	switch {
	case m.Typ != typMessage:
		return fmt.Sprintf("unknown message type %q", m.Typ)
	case len(m.Text) > maxTextBytes:
		return fmt.Sprintf("message too long: %d bytes, at most %d", len(m.Text), maxTextBytes)
	case strings.TrimSpace(m.Text) == "":
		return "empty message"
	}
	return ""
}
