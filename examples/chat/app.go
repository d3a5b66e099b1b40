package main

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

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
	// Pos is a message's position in the room's history (history and
	// message frames), which the page sends back as ?since= to resume.
	Pos string `json:"pos,omitempty"`
	// Error is "reload" on the error frame that says the server cannot
	// resume from the page's position: the history follows again.
	Error string `json:"error,omitempty"`
}

// Frame types.
const (
	typMessage = "message" // a chat message, both ways
	typStatus  = "status"  // "joined" or "left", From says who
	typHistory = "history" // a past message, sent to a joiner
	typMembers = "members" // Text is a JSON array of the names present
	typError   = "error"   // to one client: what was wrong with its frame
	typStorage = "storage" // "unavailable" (NATS lost: messages cannot be sent) or "available"
)

// Limits on what clients send.
const (
	maxNameRunes = 32
	maxRoomRunes = 64
	maxTextBytes = 4 << 10
)

// defaultHistorySize is how many messages a room keeps, by default.
const defaultHistorySize = 50

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
	// HistorySize is how many messages a joiner gets; the stream keeps
	// storedPerJoiner times as many per room. Every instance sharing a
	// NATS cluster must use the same. Default: 50.
	HistorySize int
	// Logger receives the app's and the sockets' log lines. Default: the
	// standard logger.
	Logger *log.Logger

	// DataDir is where the embedded NATS server stores the rooms.
	// Default: defaultDataDir().
	DataDir string
	// NATSListen, when set, is where the embedded server listens, for
	// other instances to use it with -nats. Default: no listener.
	NATSListen string
	// NATSURL, when set, is an external NATS cluster with JetStream
	// (comma-separated URLs, without credentials) that instances share,
	// instead of the embedded server.
	NATSURL string
	// NATSOptions are passed to nats.Connect (credentials, TLS ...).
	NATSOptions []nats.Option
	// Lease is how long the members of an instance that crashed stay in
	// their rooms. Default: natsjs's, a few seconds.
	Lease time.Duration
}

// app is the chat: its pages, its sockets, its rooms.
type app struct {
	log     *log.Logger
	hub     *sockets.Hub
	sockets *sockets.Group // the app's open sockets, for shutdown
	stores  *stores
	watches *watches
	lobby   *lobby
	pages   *template.Template
	handler http.Handler
	// The sockets' options; hostOK checks every route's Host by them.
	allowedHosts []string
	hostOK       func(*http.Request) bool
	messageRate  float64
	historySize  int
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
	if cfg.DataDir == "" {
		cfg.DataDir = defaultDataDir()
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"roomPath": func(room string) string { return "/rooms/" + url.PathEscape(room) },
		// The library's browser client, named by its version so that it is
		// cached for good, and checked by the browser against its hash.
		"socketsJS":        func() string { return "/sockets.js?v=" + socketsjs.Version() },
		"socketsIntegrity": socketsjs.Integrity,
		"add":              func(a, b int) int { return a + b },
	}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var ready atomic.Pointer[sockets.Hub] // for onState, once made
	st, err := openStores(cfg, func(up bool) {
		if hub := ready.Load(); hub != nil {
			tellStorage(hub, up)
		}
	})
	if err != nil {
		return nil, err
	}
	// The history store orders each room's messages, the same on every
	// instance, and the hub delivers them from it; the presence store
	// holds the names.
	hub, err := sockets.NewHub(&sockets.HubOptions{History: st.history, Presence: st.presence})
	if err != nil {
		st.close()
		return nil, err
	}
	ready.Store(hub)
	a := &app{
		log:          cfg.Logger,
		hub:          hub,
		sockets:      &sockets.Group{},
		stores:       st,
		watches:      &watches{hub: hub, rooms: map[string]*roomWatch{}},
		lobby:        &lobby{hub: hub, ttl: lobbyTTL},
		pages:        pages,
		allowedHosts: cfg.AllowedHosts,
		messageRate:  10,
		historySize:  cfg.HistorySize,
	}
	if a.allowedHosts == nil {
		a.allowedHosts = sockets.ListenHosts(cfg.Addr)
	}
	if a.hostOK, err = sockets.HostCheck(a.allowedHosts); err != nil {
		a.Close()
		return nil, err
	}
	if cfg.MessageRate != 0 {
		a.messageRate = max(cfg.MessageRate, 0)
	}
	if st.embedded != nil {
		a.log.Printf("chat: rooms stored in %s (embedded NATS server)", cfg.DataDir)
	} else {
		a.log.Printf("chat: rooms shared through NATS at %s", cfg.NATSURL)
	}
	a.handler = a.routes()
	return a, nil
}

// tellStorage tells every member here whether messages can be stored.
func tellStorage(hub *sockets.Hub, up bool) {
	m := Message{Typ: typStorage, Text: "unavailable"}
	if up {
		m.Text = "available"
	}
	data, _ := json.Marshal(m)
	hub.PublishAll(sockets.TextMessage, data) // this instance's members, not the history
}

// Handler serves the whole app.
func (a *app) Handler() http.Handler { return a.handler }

// Close releases the hub, the stores (which releases this instance's
// names) and NATS. Open sockets are not closed.
func (a *app) Close() error {
	err := a.hub.Close()
	a.stores.close()
	return err
}

func (a *app) routes() http.Handler {
	m := macaron.New()
	m.Map(a.log)
	m.Use(macaron.Recovery())
	m.Use(securityHeaders)
	m.Use(a.checkHost) // the pages too: the lobby lists the rooms

	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	m.Get("/static/*", func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(ctx.Resp, ctx.Req.Request)
	})
	m.Get("/sockets.js", socketsjs.Handler())
	m.Get("/", a.showLobby)
	m.Get("/join", a.join)
	m.Get("/rooms/:name", a.roomPage)

	ws := sockets.JSON(Message{}, &sockets.Options{
		Logger: a.log,
		Group:  a.sockets,
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

// checkHost answers 403 to a request for a Host the chat does not serve
// (AllowedHosts): the guard against DNS rebinding, on every route.
func (a *app) checkHost(ctx *macaron.Context) {
	if !a.hostOK(ctx.Req.Request) {
		refuse(ctx, http.StatusForbidden, "host not allowed")
	}
}

// securityHeaders forbids inline scripts and foreign resources: even a
// rendering bug cannot run a message as code.
func securityHeaders(ctx *macaron.Context) {
	h := ctx.Resp.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}
