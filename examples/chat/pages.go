package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/macaron-contrib/sockets"
	"gopkg.in/macaron.v1"
)

// The lobby lists the rooms with members on every instance, busiest
// first, lobbyPageSize a page. The list is read from the presence store at
// most once per lobbyTTL, by one request while the others wait for it: a
// lobby asked for often costs the store nothing more.
const (
	lobbyPageSize = 50
	lobbyTTL      = 2 * time.Second
)

// lobby is the list of rooms, as last read.
type lobby struct {
	hub   *sockets.Hub
	ttl   time.Duration // lobbyTTL
	mu    sync.Mutex
	rooms []sockets.RoomCount
	err   error
	at    time.Time
}

// list returns every room with members, busiest first.
func (l *lobby) list() ([]sockets.RoomCount, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.at) < l.ttl {
		return l.rooms, l.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rooms, err := l.hub.PresenceRooms(ctx)
	slices.SortFunc(rooms, func(a, b sockets.RoomCount) int {
		if a.Members != b.Members {
			return b.Members - a.Members
		}
		return strings.Compare(a.Room, b.Room)
	})
	l.rooms, l.err, l.at = rooms, err, time.Now()
	return rooms, err
}

// lobbyData fills templates/lobby.html.
type lobbyData struct {
	Rooms           []sockets.RoomCount // this page's
	Total           int                 // rooms in use
	Page, Pages     int
	Room, Name      string // the form's values
	Error, Unlisted string
}

// lobbyPage returns page (from 1) of the rooms, the form filled in with
// room and name.
func (a *app) lobbyPage(page int, room, name, problem string) lobbyData {
	d := lobbyData{Room: room, Name: name, Error: problem, Page: max(page, 1)}
	rooms, err := a.lobby.list()
	if err != nil {
		a.log.Printf("chat: listing rooms: %v", err)
		d.Unlisted = "The rooms in use cannot be listed right now."
	}
	d.Total = len(rooms)
	d.Pages = max(1, (len(rooms)+lobbyPageSize-1)/lobbyPageSize)
	d.Page = min(d.Page, d.Pages)
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
	if reason == "" {
		reason = nameReason
	}
	if reason != "" {
		a.render(ctx, http.StatusBadRequest, "lobby.html", a.lobbyPage(1, room, name, reason))
		return
	}
	ctx.Redirect(roomURL(room, name), http.StatusSeeOther)
}

// roomData fills templates/room.html.
type roomData struct {
	Room  string
	Name  string // "" asks for one
	Error string
}

// roomPage serves a room's page, for the room's name trimmed (see
// cleanRoom): the page's socket goes to that room.
func (a *app) roomPage(ctx *macaron.Context) {
	room, reason := cleanRoom(ctx.Params(":name"))
	if reason != "" {
		refuse(ctx, http.StatusBadRequest, reason)
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

func roomURL(room, name string) string {
	return "/rooms/" + url.PathEscape(room) + "?name=" + url.QueryEscape(name)
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
