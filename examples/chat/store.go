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

// stores is the chat's connection to NATS, an embedded server or an
// external cluster (the same code path), and the library's stores on it:
// the history in a JetStream stream, the names in a key-value bucket.
type stores struct {
	nc       *nats.Conn
	embedded *server.Server // nil with an external cluster
	history  *natsjs.History
	presence *natsjs.Presence
}

// storedPerJoiner is how many times more messages the stream keeps per
// room than a joiner gets: when a member's instance falls behind by more
// than the stream keeps, natsjs tells it (Record.Missed) and the hub
// closes the room's members there with 1013, so that their pages come
// back since their last message and get what they missed, or start over
// when the stream no longer has it; the margin keeps that rare, a lag of
// seconds in a busy room.
const storedPerJoiner = 20

// openStores connects to NATS as cfg says, embedding a server when
// cfg.NATSURL is empty, and opens the stores. onState is called when the
// connection is lost (false) and back (true).
func openStores(cfg config, onState func(up bool)) (*stores, error) {
	s := &stores{}
	// No reconnect buffer: a message published while NATS is away fails at
	// once, rather than being stored later after its sender was told not.
	opts := append([]nats.Option{nats.Name("chat"), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { onState(false) }),
		nats.ReconnectHandler(func(*nats.Conn) { onState(true) }),
	}, cfg.NATSOptions...)
	var err error
	if cfg.NATSURL == "" {
		if s.embedded, err = startEmbedded(cfg.DataDir, cfg.NATSListen); err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(s.embedded))
	} else if err := checkNATSURLs(cfg.NATSURL); err != nil {
		return nil, err
	}
	if s.nc, err = nats.Connect(cfg.NATSURL, opts...); err != nil {
		s.close()
		return nil, fmt.Errorf("chat: connecting to NATS at %s: %w", cfg.NATSURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hopts := sockets.HistoryOptions{Size: storedPerJoiner * cfg.HistorySize, MaxMessageSize: maxTextBytes + 1024}
	if s.history, err = natsjs.NewHistory(ctx, s.nc, &natsjs.HistoryOptions{HistoryOptions: hopts}); err != nil {
		s.close()
		return nil, fmt.Errorf("chat: history: %w", err)
	}
	popts := sockets.PresenceOptions{Lease: cfg.Lease}
	if s.presence, err = natsjs.NewPresence(ctx, s.nc, &natsjs.PresenceOptions{PresenceOptions: popts}); err != nil {
		s.close()
		return nil, fmt.Errorf("chat: presence: %w", err)
	}
	return s, nil
}

// startEmbedded runs nats-server with JetStream in this process, storing
// in dir; it listens for other instances only at listen, when set.
func startEmbedded(dir, listen string) (*server.Server, error) {
	opts := &server.Options{ServerName: "chat", JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true, DontListen: listen == ""}
	if listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if opts.Host = host; err == nil {
			opts.Port, err = strconv.Atoi(port)
		}
		if err != nil {
			return nil, fmt.Errorf("chat: -nats-listen %q: %w", listen, err)
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

// defaultDataDir is "sockets-chat" in the user's configuration directory
// (~/.config on Linux), or in the working directory without one.
func defaultDataDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "sockets-chat"
	}
	return filepath.Join(dir, "sockets-chat")
}

// checkNATSURLs refuses URLs with credentials, which the process list,
// logs and /debug/vars would show: natsAuth reads them instead.
func checkNATSURLs(urls string) error {
	for _, raw := range strings.Split(urls, ",") {
		if u, err := url.Parse(strings.TrimSpace(raw)); err != nil || u.User != nil {
			return errors.New("chat: a -nats URL does not parse or carries credentials: set NATS_USER and NATS_PASSWORD, NATS_TOKEN, or NATS_CREDS to a credentials file, instead")
		}
	}
	return nil
}

// natsAuth reads NATS credentials from the environment: NATS_CREDS (a
// credentials file), NATS_TOKEN, or NATS_USER with NATS_PASSWORD.
func natsAuth(getenv func(string) string) (opts []nats.Option) {
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
