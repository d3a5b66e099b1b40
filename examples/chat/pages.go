package main

import (
	"bytes"
	"cmp"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/macaron-contrib/sockets"
	"gopkg.in/macaron.v1"
)

// lobbyData fills templates/lobby.html: a page of the rooms, and the form.
type lobbyData struct {
	Rooms              []sockets.RoomCount
	Total, Page, Pages int
	Room, Name         string
	Error, Unlisted    string
}

// lobbyPage returns page (from 1) of the rooms, the form filled in.
func (a *app) lobbyPage(page int, room, name, problem string) lobbyData {
	d := lobbyData{Room: room, Name: name, Error: problem}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rooms, err := a.hub.PresenceRooms(ctx) // busiest first, read at most every RoomsMaxAge
	if err != nil {
		a.log.Printf("chat: listing rooms: %v", err)
		d.Unlisted = "The rooms in use cannot be listed right now."
	}
	d.Total = len(rooms)
	d.Pages = max(1, (len(rooms)+lobbyPageSize-1)/lobbyPageSize)
	d.Page = min(max(page, 1), d.Pages)
	from := (d.Page - 1) * lobbyPageSize
	d.Rooms = rooms[from:min(from+lobbyPageSize, len(rooms))]
	return d
}

func (a *app) showLobby(ctx *macaron.Context) {
	page, _ := strconv.Atoi(ctx.Query("page"))
	a.render(ctx, http.StatusOK, "lobby.html", a.lobbyPage(page, "general", "", ""))
}

// join is where the lobby's form goes: it redirects to the room's page.
func (a *app) join(ctx *macaron.Context) {
	room, reason := cleanRoom(ctx.Query("room"))
	name, nameReason := cleanName(ctx.Query("name"))
	if reason = cmp.Or(reason, nameReason); reason != "" {
		a.render(ctx, http.StatusBadRequest, "lobby.html", a.lobbyPage(1, room, name, reason))
		return
	}
	ctx.Redirect("/rooms/"+url.PathEscape(room)+"?name="+url.QueryEscape(name), http.StatusSeeOther)
}

// roomData fills templates/room.html; an empty Name asks for one.
type roomData struct{ Room, Name, Error string }

// roomPage serves a room's page; its socket goes to the room's name as
// trimmed.
func (a *app) roomPage(ctx *macaron.Context) {
	room, reason := cleanRoom(ctx.Params(":name"))
	if reason != "" {
		http.Error(ctx.Resp, reason, http.StatusBadRequest)
		return
	}
	d := roomData{Room: room}
	if name, asked := ctx.Req.URL.Query()["name"]; asked {
		if d.Name, d.Error = cleanName(name[0]); d.Error != "" {
			d.Name = ""
		}
	}
	a.render(ctx, http.StatusOK, "room.html", d)
}

func (a *app) render(ctx *macaron.Context, status int, page string, data any) {
	var b bytes.Buffer
	if err := a.pages.ExecuteTemplate(&b, page, data); err != nil {
		a.log.Printf("chat: rendering %s: %v", page, err)
		http.Error(ctx.Resp, "internal error", http.StatusInternalServerError)
		return
	}
	ctx.Resp.Header().Set("Content-Type", "text/html; charset=utf-8")
	ctx.Resp.WriteHeader(status)
	ctx.Resp.Write(b.Bytes())
}
