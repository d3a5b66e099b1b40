package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/natsjs"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The chat keeps its rooms' history in a JetStream stream and who is in
// which room in a JetStream key-value bucket (package natsjs), on one code
// path: either an embedded nats-server, in this process, storing in a
// data directory, or an external NATS cluster that several instances
// share.

// stores is the chat's connection to NATS and the library's stores on it.
type stores struct {
	nc       *nats.Conn
	embedded *server.Server // nil with an external cluster
	history  *natsjs.History
	presence *natsjs.Presence
}

// openStores connects to NATS as cfg says, embedding a server when
// cfg.NATSURL is empty, and opens the stores. onState is called when the
// connection to NATS is lost (false) and back (true).
func openStores(cfg config, onState func(up bool)) (*stores, error) {
	s := &stores{}
	// No reconnect buffer: a message published while NATS is away fails
	// at once, rather than being stored later after its sender was told it
	// was not.
	opts := append([]nats.Option{nats.Name("chat"), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { onState(false) }),
		nats.ReconnectHandler(func(*nats.Conn) { onState(true) }),
	}, cfg.NATSOptions...)
	url := cfg.NATSURL
	if url == "" {
		var err error
		if s.embedded, err = startEmbedded(cfg.DataDir, cfg.NATSListen); err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(s.embedded))
	} else if err := checkNATSURLs(url); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("chat: connecting to NATS at %s: %w", url, err)
	}
	s.nc = nc
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.history, err = natsjs.NewHistory(ctx, nc, &natsjs.HistoryOptions{
		HistoryOptions: sockets.HistoryOptions{Size: storedPerJoiner * cfg.HistorySize, MaxMessageSize: maxTextBytes + 1024},
	}); err != nil {
		s.close()
		return nil, fmt.Errorf("chat: history: %w", err)
	}
	if s.presence, err = natsjs.NewPresence(ctx, nc, &natsjs.PresenceOptions{
		PresenceOptions: sockets.PresenceOptions{Lease: cfg.Lease},
	}); err != nil {
		s.close()
		return nil, fmt.Errorf("chat: presence: %w", err)
	}
	return s, nil
}

// storedPerJoiner is how many times more messages the stream keeps per
// room than a joiner gets. The hub delivers what it reads from the stream;
// a reader that falls further behind than the stream keeps would not get
// the messages dropped meanwhile, and would not know (natsjs cannot tell
// yet): the margin makes that a lag of seconds, not of milliseconds, in a
// busy room.
const storedPerJoiner = 20

// startEmbedded runs nats-server with JetStream in this process, storing
// in dir; it listens for other instances at listen only when that is set.
func startEmbedded(dir, listen string) (*server.Server, error) {
	opts := &server.Options{ServerName: "chat", JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true, DontListen: listen == ""}
	if listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("chat: -nats-listen %q: %w", listen, err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("chat: -nats-listen %q: bad port", listen)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("chat: embedded NATS server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("chat: the embedded NATS server did not start within 10s")
	}
	return ns, nil
}

// defaultDataDir is where the embedded server stores the rooms unless
// -data says otherwise: "sockets-chat" in the user's configuration
// directory (~/.config on Linux, ~/Library/Application Support on macOS,
// %AppData% on Windows), or in the working directory when there is none.
func defaultDataDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "sockets-chat"
	}
	return filepath.Join(dir, "sockets-chat")
}

// checkNATSURLs refuses URLs that carry credentials (a user and password,
// or a token, which NATS takes from a user name alone): they would show in
// the process list, in logs and in the command line /debug/vars shows.
// Credentials come from the environment or a file (see natsAuth).
func checkNATSURLs(urls string) error {
	for _, raw := range strings.Split(urls, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return errors.New("chat: -nats: a URL does not parse")
		}
		if u.User != nil {
			return errors.New("chat: a -nats URL carries credentials: set NATS_USER and NATS_PASSWORD, NATS_TOKEN, or NATS_CREDS to a credentials file, instead")
		}
	}
	return nil
}

// natsAuth reads NATS credentials from the environment: NATS_CREDS (a
// credentials file), NATS_TOKEN, or NATS_USER with NATS_PASSWORD.
func natsAuth(getenv func(string) string) []nats.Option {
	var opts []nats.Option
	if f := getenv("NATS_CREDS"); f != "" {
		opts = append(opts, nats.UserCredentials(f))
	}
	if tok := getenv("NATS_TOKEN"); tok != "" {
		opts = append(opts, nats.Token(tok))
	}
	if user := getenv("NATS_USER"); user != "" {
		opts = append(opts, nats.UserInfo(user, getenv("NATS_PASSWORD")))
	}
	return opts
}

// close closes the stores, the connection and the embedded server.
func (s *stores) close() {
	if s.presence != nil {
		s.presence.Close()
	}
	if s.history != nil {
		s.history.Close()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
		s.embedded.WaitForShutdown()
	}
}
