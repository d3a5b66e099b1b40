package main

import (
	"bytes"
	"embed"
	"errors"
	"expvar"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	socketsjs "github.com/macaron-contrib/sockets/client" // (the tests have a type client)
	"github.com/nats-io/nats.go"
	"gopkg.in/macaron.v1"
)

// Message is one frame of the chat protocol, both ways.
type Message struct {
	Typ  string `json:"typ"`
	From string `json:"from,omitempty"`
	Text string `json:"text"`
}

// Frame types.
const (
	typMessage = "message" // a chat message, both ways
	typStatus  = "status"  // "joined" or "left", From says who
	typHistory = "history" // a past message, sent to a joiner
	typMembers = "members" // Text is a JSON array of the names present
	typError   = "error"   // to one client: what was wrong with its frame
)

// Limits on what clients send.
const (
	maxNameRunes = 32
	maxRoomRunes = 64
	maxTextBytes = 4 << 10
)

// config sets the app up: main fills it from its flags, tests directly.
type config struct {
	// Addr is where main listens.
	Addr string
	// AllowedHosts are the Host values the sockets accept (the guard
	// against DNS rebinding). Default: sockets.ListenHosts(Addr).
	AllowedHosts []string
	// MessageRate limits the messages a member may send per second, with
	// bursts of 4 times as many, so that a flood cannot make the other
	// members slow clients. Default: 10; negative: no limit.
	MessageRate float64
	// MetricsAddr, when set, is where main serves /metrics, on a listener
	// of its own (see metricsHandler).
	MetricsAddr string
	// HistorySize is how many messages a room keeps for joiners.
	// Default: 50.
	HistorySize int
	// Logger receives the app's and the sockets' log lines. Default: the
	// standard logger.
	Logger *log.Logger

	// NATSURL, when set, makes this instance one of several sharing their
	// rooms through the NATS server(s) there (a comma-separated list is
	// allowed): see natsStore. Empty: one process, rooms in memory.
	NATSURL string
	// NATSPrefix starts every NATS subject used; instances with the same
	// prefix share their rooms. Default: natsbroker.DefaultPrefix.
	NATSPrefix string
	// InstanceID names this instance to the others. Default: a random one.
	InstanceID string
	// PeerTimeout bounds how long a joiner or the lobby waits for the other
	// instances to answer. Default: 250ms.
	PeerTimeout time.Duration
	// DiscoveryWait is how long a new instance waits for the others to
	// make themselves known before it trusts its list of them: until then
	// its queries wait PeerTimeout in full. Default: PeerTimeout; negative:
	// no wait.
	DiscoveryWait time.Duration
	// HelloInterval is how often instances tell each other they are alive;
	// one silent for 3 intervals is forgotten. Default: 2s.
	HelloInterval time.Duration
	// NATSOptions are passed to natsbroker.Connect (reconnect policy, TLS,
	// credentials ...).
	NATSOptions []nats.Option
}

// app is the chat: its pages, its sockets, its rooms.
type app struct {
	log     *log.Logger
	hub     *sockets.Hub
	sockets *sockets.Group // the app's open sockets, for shutdown
	store   roomStore
	nats    *natsStore // the store, when rooms are shared through NATS
	pages   *template.Template
	handler http.Handler
	// allowedHosts and messageRate are the sockets' options.
	allowedHosts []string
	messageRate  float64
}

//go:embed templates static
var assets embed.FS

// newApp builds the chat. The caller serves app.Handler() and calls Close
// when done.
func newApp(cfg config) (*app, error) {
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = defaultHistorySize
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Default()
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"roomPath": func(room string) string { return "/rooms/" + url.PathEscape(room) },
		// The library's browser client, named by its version so that it is
		// cached for good, and checked by the browser against its hash.
		"socketsJS":        func() string { return "/sockets.js?v=" + socketsjs.Version() },
		"socketsIntegrity": socketsjs.Integrity,
	}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	a := &app{
		log:          cfg.Logger,
		sockets:      &sockets.Group{},
		pages:        pages,
		allowedHosts: cfg.AllowedHosts,
	}
	if a.allowedHosts == nil {
		a.allowedHosts = sockets.ListenHosts(cfg.Addr)
	}
	switch {
	case cfg.MessageRate == 0:
		a.messageRate = 10
	case cfg.MessageRate > 0:
		a.messageRate = cfg.MessageRate
	}
	if cfg.NATSURL != "" {
		// Messages and statuses cross instances through the hub's broker;
		// history and presence through the store's queries.
		a.nats, a.hub, err = newNATSStore(cfg)
		if err != nil {
			return nil, err
		}
		a.store = a.nats
		a.log.Printf("chat: instance %s shares its rooms through NATS at %s", a.nats.id, cfg.NATSURL)
	} else {
		a.hub, err = sockets.NewHub(nil) // DisconnectSlowClient
		if err != nil {
			return nil, err
		}
		a.store = newMemoryStore(a.hub, cfg.HistorySize)
	}
	a.handler = a.routes()
	return a, nil
}

// Handler serves the whole app.
func (a *app) Handler() http.Handler { return a.handler }

// Close releases the hub (and its broker and NATS connection, when it has
// them). Open sockets are not closed.
func (a *app) Close() error {
	if a.nats != nil {
		a.nats.Close() // says goodbye to the other instances first
	}
	return a.hub.Close()
}

func (a *app) routes() http.Handler {
	m := macaron.New()
	m.Map(a.log)
	m.Use(macaron.Recovery())
	m.Use(securityHeaders)

	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	m.Get("/static/*", func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(ctx.Resp, ctx.Req.Request)
	})
	m.Get("/sockets.js", socketsjs.Handler())
	m.Get("/", a.lobby)
	m.Get("/join", a.join)
	m.Get("/rooms/:name", a.roomPage)
	m.Get("/debug/vars", localOnly, func(ctx *macaron.Context) { expvar.Handler().ServeHTTP(ctx.Resp, ctx.Req.Request) })

	ws := sockets.JSON(Message{}, &sockets.Options{
		Logger: a.log,
		Group:  a.sockets,
		// Unbuffered: a send returns once the writer has taken the frame,
		// which Enter relies on to order a joiner's frames.
		SendChannelBuffer: -1,
		// A member flooding the room is cut to a human pace before it can
		// make the others slow clients.
		MessageRate:             a.messageRate,
		MessageBurst:            int(4 * a.messageRate),
		MaxConnections:          10000,
		MaxConnectionsPerClient: 32,
		AllowedHosts:            a.allowedHosts,
	})
	m.Get("/sockets/rooms/:name/:clientname", a.validate, ws, a.serveSocket)
	// An empty segment does not match a parameter: answer those with the
	// same 400 as an empty name, not with a 404.
	m.Get("/sockets/rooms/:name/", a.validate)
	m.Get("/sockets/rooms//:clientname", a.validate)
	return m
}

// securityHeaders forbids inline scripts and foreign resources: even a
// rendering bug cannot run a message as code.
func securityHeaders(ctx *macaron.Context) {
	h := ctx.Resp.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// member is who a socket request is for, once validated.
type member struct {
	room, name string
}

// validate checks a socket request before the upgrade (its room and name
// trimmed, see cleanRoom) and reserves the name for as long as the rest of
// the chain runs, that is for the whole connection. It answers 400 or 409
// itself, which stops the chain.
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
	release, ok := a.store.Reserve(room, name)
	if !ok {
		refuse(ctx, http.StatusConflict, fmt.Sprintf("the name %q is already in use in this room", name))
		return
	}
	// The sockets middleware returns when the connection is over, or at
	// once when the upgrade fails.
	defer release()
	ctx.Map(member{room: room, name: name})
	ctx.Next()
}

func refuse(ctx *macaron.Context, status int, reason string) {
	h := ctx.Resp.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	ctx.Resp.WriteHeader(status)
	io.WriteString(ctx.Resp, reason+"\n")
}

// serveSocket runs one member's connection: it enters the room, then relays
// what the client says until the connection ends.
func (a *app) serveSocket(c *sockets.Conn, who member, receiver <-chan *Message, sender chan<- *Message,
	done <-chan bool, errs <-chan error) {
	send := func(m *Message) { sender <- m }
	if err := a.store.Enter(who.room, who.name, c, send); err != nil {
		a.log.Printf("chat: %s could not enter %q: %v", who.name, who.room, err)
		if errors.Is(err, errBehind) {
			c.Close(websocket.CloseTryAgainLater, "room too busy, try again")
		} else {
			c.Close(websocket.CloseInternalServerErr, "could not join the room")
		}
		return
	}
	defer func() {
		if err := a.store.Leave(who.room, who.name, c); err != nil {
			a.log.Printf("chat: %s leaving %q: %v", who.name, who.room, err)
		}
	}()
	for {
		select {
		case m := <-receiver:
			if reason := checkMessage(m); reason != "" {
				send(&Message{Typ: typError, Text: reason})
				continue
			}
			// m.From is the client's word; the name is the server's.
			if err := a.store.Say(who.room, who.name, c, m.Text); err != nil {
				a.log.Printf("chat: %s in %q: %v", who.name, who.room, err)
			}
		case err := <-errs:
			var de *sockets.DecodeError
			if errors.As(err, &de) {
				send(&Message{Typ: typError, Text: "invalid frame: not a JSON message"})
			}
		case <-done:
			return
		}
	}
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

// lobbyData fills templates/lobby.html.
type lobbyData struct {
	Rooms []roomInfo
	Room  string
	Name  string
	Error string
}

func (a *app) lobby(ctx *macaron.Context) {
	a.render(ctx, http.StatusOK, "lobby.html", lobbyData{Rooms: a.store.Rooms(), Room: "general"})
}

// join is where the lobby's form goes: it redirects to the room's page.
func (a *app) join(ctx *macaron.Context) {
	room, reason := cleanRoom(ctx.Query("room"))
	name, nameReason := cleanName(ctx.Query("name"))
	if reason == "" {
		reason = nameReason
	}
	if reason != "" {
		a.render(ctx, http.StatusBadRequest, "lobby.html", lobbyData{Rooms: a.store.Rooms(), Room: room, Name: name, Error: reason})
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

// localOnly answers 404 to a request that does not come straight from this
// machine: from a non-loopback address, or through a proxy (one that says
// so in Forwarded or X-Forwarded-For). /debug/vars shows the command line
// and the server's internals, which are not for the public.
func localOnly(ctx *macaron.Context) {
	r := ctx.Req.Request
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || !ip.IsLoopback() || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" {
		http.NotFound(ctx.Resp, r)
	}
}
