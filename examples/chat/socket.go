package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsjs"
	"gopkg.in/macaron.v1"
)

// member is who a socket request is for, once validated, with the claim
// on the name.
type member struct {
	room, name string
	claim      sockets.Claim
}

// storeTimeout bounds each call to the stores a request waits for.
const storeTimeout = 5 * time.Second

// validate checks a socket request before the upgrade (its room and name
// trimmed, see cleanRoom) and claims the name in the room, across every
// instance, for as long as the rest of the chain runs, that is for the
// whole connection. It answers 400, 409 or 503 itself, which stops the
// chain.
func (a *app) validate(ctx *macaron.Context) {
	room, reason := cleanRoom(ctx.Params(":name"))
	if reason != "" {
		refuse(ctx, http.StatusBadRequest, reason)
		return
	}
	name, reason := cleanName(ctx.Params(":clientname"))
	if reason != "" {
		refuse(ctx, http.StatusBadRequest, reason)
		return
	}
	cctx, cancel := context.WithTimeout(ctx.Req.Context(), storeTimeout)
	claim, err := a.stores.presence.Claim(cctx, room, name, nil)
	cancel()
	switch {
	case errors.Is(err, sockets.ErrKeyTaken):
		refuse(ctx, http.StatusConflict, fmt.Sprintf("the name %q is already in use in this room", name))
		return
	case err != nil:
		a.log.Printf("chat: claiming %q in %q: %v", name, room, err)
		ctx.Resp.Header().Set("Retry-After", "5")
		refuse(ctx, http.StatusServiceUnavailable, "the chat's storage is unavailable, try again")
		return
	}
	// The sockets middleware returns when the connection is over, or at
	// once when the upgrade fails.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		claim.Release(rctx)
	}()
	ctx.Map(member{room: room, name: name, claim: claim})
	ctx.Next()
}

func refuse(ctx *macaron.Context, status int, reason string) {
	h := ctx.Resp.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	ctx.Resp.WriteHeader(status)
	io.WriteString(ctx.Resp, reason+"\n")
}

// serveSocket runs one member's connection: it enters the room, then relays
// what the client says until the connection ends. Every frame to the
// client goes through the connection's queue (Conn.Send and the hub), so
// they arrive in the order they were queued.
func (a *app) serveSocket(c *sockets.Conn, who member, receiver <-chan *Message, done <-chan bool, errs <-chan error) {
	w, err := a.watches.enter(who.room)
	if err == nil {
		defer a.watches.leave(who.room, w, c)
		err = a.enter(c, w, who)
	}
	if err != nil {
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
			// m.From is the client's word; the name is the server's.
			if err := a.say(c, who, m.Text); err != nil {
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
		case <-who.claim.Lost():
			// The store could not keep the name (NATS out for longer
			// than the lease): another member may have it now.
			c.Close(websocket.CloseTryAgainLater, "lost the name, reconnect")
			return
		case <-done:
			return
		}
	}
}

// enter sends the joiner what it should see, then joins it to the room:
// with ?since=POS (a page reconnecting), what it missed, then the members;
// otherwise, or when what it missed cannot be recovered, the history (as
// "history" frames), the members, then what came meanwhile. Live messages
// follow, with no gap and no duplicate.
func (a *app) enter(c *sockets.Conn, w *roomWatch, who member) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	reset := Message{Typ: typError, Error: "reload", Text: "some messages could not be recovered: the history follows"}
	if raw := c.Request().URL.Query().Get("since"); raw != "" {
		since, err := sockets.ParsePosition(raw)
		if err == nil {
			if err = a.hub.JoinSince(ctx, who.room, c, since); err == nil {
				return w.join(c, who.name)
			} else if !errors.Is(err, sockets.ErrCannotRecover) {
				return err
			}
		}
		if err := sendFrame(c, reset); err != nil {
			return err
		}
	}
	// A busy room may drop the last record read before the join: read
	// again, the client told to start its view over.
	for attempt := range 3 {
		if attempt > 0 {
			if err := sendFrame(c, reset); err != nil {
				return err
			}
		}
		recs, err := a.stores.history.Read(ctx, who.room, sockets.Position{}, a.historySize)
		if err != nil {
			return err
		}
		var last sockets.Position
		for _, rec := range recs {
			if m, ok := decodeMessage(rec.Data); ok {
				m.Typ, m.Pos = typHistory, rec.Pos.String()
				if err := sendFrame(c, m); err != nil {
					return err
				}
			}
			last = rec.Pos
		}
		if err := w.join(c, who.name); err != nil {
			return err
		}
		if err = a.hub.JoinSince(ctx, who.room, c, last); !errors.Is(err, sockets.ErrCannotRecover) {
			return err
		}
	}
	return errors.New("the room moves too fast to join")
}

// decodeMessage reads a message the history keeps.
func decodeMessage(data []byte) (Message, bool) {
	var m Message
	err := json.Unmarshal(data, &m)
	return m, err == nil && m.Typ == typMessage
}

// say publishes a message from who to the room's members but c, once the
// history has stored it.
func (a *app) say(c *sockets.Conn, who member, text string) error {
	data, err := json.Marshal(Message{Typ: typMessage, From: who.name, Text: text})
	if err != nil {
		return err
	}
	return a.hub.PublishExcept(who.room, c, sockets.TextMessage, data)
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
