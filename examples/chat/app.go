package main

import (
	"cmp"
	"embed"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/macaron-contrib/sockets"
	socketsjs "github.com/macaron-contrib/sockets/client" // the tests have a type client
	"github.com/nats-io/nats.go"
	"gopkg.in/macaron.v1"
)

// Message is one frame of the chat protocol, both ways. Pos is a
// message's position in the room, which a page sends back as ?since= to
// resume; Error is "reload" when it cannot.
type Message struct {
	Typ   string `json:"typ"`
	From  string `json:"from,omitempty"`
	Text  string `json:"text"`
	Pos   string `json:"pos,omitempty"`
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

// Limits on what clients send, the history a joiner gets by default, and
// the rooms a page of the lobby lists.
const (
	maxNameRunes       = 32
	maxRoomRunes       = 64
	maxTextBytes       = 4 << 10
	defaultHistorySize = 50
	lobbyPageSize      = 50
)

// config sets the app up: main fills it from its flags, tests directly.
// Zero fields get defaults.
type config struct {
	Addr         string   // where main listens
	AllowedHosts []string // Host values served (DNS rebinding guard); default: sockets.ListenHosts(Addr)
	// MessageRate is the messages a member may send per second, bursts 4
	// times as many: a flood cannot make others slow clients. Default: 10;
	// negative: no limit.
	MessageRate float64
	// HistorySize is the messages a joiner gets, the same on every
	// instance (the stream keeps storedPerJoiner times as many). Default: 50.
	HistorySize int
	Logger      *log.Logger // default: the standard logger

	DataDir     string        // where the embedded NATS server stores; default: defaultDataDir()
	NATSListen  string        // where the embedded server listens for other instances; default: nowhere
	NATSURL     string        // an external NATS cluster instead (comma-separated URLs, no credentials)
	NATSOptions []nats.Option // for nats.Connect: credentials, TLS ...
	Lease       time.Duration // how long a crashed instance's members stay; default: natsjs's
	RoomsMaxAge time.Duration // how long the lobby's list of rooms is kept; default: the hub's
}

// app is the chat: its pages, its sockets, its rooms.
type app struct {
	cfg     config // with its defaults
	log     *log.Logger
	hub     *sockets.Hub
	sockets *sockets.Group // the app's open sockets, for shutdown
	stores  *stores
	pages   *template.Template
	handler http.Handler
}

//go:embed templates static
var assets embed.FS

// newApp builds the chat. The caller serves app.Handler() and calls Close
// when done.
func newApp(cfg config) (*app, error) {
	cfg.HistorySize = cmp.Or(max(cfg.HistorySize, 0), defaultHistorySize)
	cfg.Logger = cmp.Or(cfg.Logger, log.Default())
	cfg.DataDir = cmp.Or(cfg.DataDir, defaultDataDir())
	cfg.MessageRate = max(cmp.Or(cfg.MessageRate, 10), 0)
	if cfg.AllowedHosts == nil {
		cfg.AllowedHosts = sockets.ListenHosts(cfg.Addr)
	}
	guard, err := sockets.HostGuard(cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"roomPath":      func(room string) string { return "/rooms/" + url.PathEscape(room) },
		"add":           func(a, b int) int { return a + b },
		"socketsScript": func() template.HTML { return socketsjs.ScriptTag("/sockets.js") },
	}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: cfg.Logger, sockets: &sockets.Group{}, pages: pages}
	var ready atomic.Bool // the hub is made: NATS's state can be told
	if a.stores, err = openStores(cfg, func(up bool) {
		if ready.Load() {
			a.tellStorage(up)
		}
	}); err != nil {
		return nil, err
	}
	// The hub delivers each room's messages in the history's order, the
	// same on every instance, and tells who comes and goes.
	a.hub, err = sockets.NewHub(&sockets.HubOptions{History: a.stores.history, Presence: a.stores.presence,
		PresenceFrames: presenceFrames, RoomsMaxAge: cfg.RoomsMaxAge})
	if err != nil {
		a.stores.close()
		return nil, err
	}
	ready.Store(true)
	if a.stores.embedded != nil {
		a.log.Printf("chat: rooms stored in %s (embedded NATS server)", cfg.DataDir)
	} else {
		a.log.Printf("chat: rooms shared through NATS at %s", cfg.NATSURL)
	}
	a.handler = a.routes(guard)
	return a, nil
}

// tellStorage tells every member here whether messages can be stored.
func (a *app) tellStorage(up bool) {
	_, data := frame(Message{Typ: typStorage, Text: map[bool]string{true: "available", false: "unavailable"}[up]})
	a.hub.PublishAll(sockets.TextMessage, data) // this instance's members, not the history
}

// Handler serves the whole app.
func (a *app) Handler() http.Handler { return a.handler }

// Close releases the hub, the stores (and so this instance's names) and
// NATS. Open sockets are not closed.
func (a *app) Close() error {
	err := a.hub.Close()
	a.stores.close()
	return err
}

func (a *app) routes(hostGuard macaron.Handler) http.Handler {
	m := macaron.New()
	m.Map(a.log)
	m.Use(macaron.Recovery())
	m.Use(securityHeaders)
	m.Use(hostGuard) // the pages too: the lobby lists the rooms

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
		// A flood is cut to a human pace before it makes others slow clients.
		MessageRate:             a.cfg.MessageRate,
		MessageBurst:            int(4 * a.cfg.MessageRate),
		MaxConnections:          10000,
		MaxConnectionsPerClient: 32,
		AllowedHosts:            a.cfg.AllowedHosts,
	})
	claim := a.hub.ClaimFirst(a.validate)
	m.Get("/sockets/rooms/:name/:clientname", claim, ws, a.serveSocket)
	// An empty segment matches no parameter: the same 400 as an empty name.
	m.Get("/sockets/rooms/:name/", claim)
	m.Get("/sockets/rooms//:clientname", claim)
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
