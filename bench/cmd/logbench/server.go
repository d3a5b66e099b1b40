package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/bench/internal/child"
	"github.com/macaron-contrib/sockets/bench/internal/load"
)

// server is one logstream process following one file.
type server struct {
	*child.Process
	addr string // HOST:PORT it listens on
	file string
}

// startServer runs the logstream binary on file, listening on an
// ephemeral port of 127.0.0.1. onLine, if set, gets every line of its log.
func startServer(bin, file string, onLine func(string)) (*server, error) {
	s := &server{file: file}
	p, err := child.Start(child.Config{
		Bin:  bin,
		Args: []string{"-addr", "127.0.0.1:0", "-file", file},
		Ready: func(line string) bool {
			// time=… level=INFO msg=listening url=http://127.0.0.1:PORT demo=false
			if !strings.Contains(line, "msg=listening") {
				return false
			}
			_, u, ok := strings.Cut(line, "url=http://")
			if !ok {
				return false
			}
			s.addr, _, _ = strings.Cut(u, " ")
			return true
		},
		OnLine: onLine,
	})
	if err != nil {
		return nil, fmt.Errorf("logstream: %w", err)
	}
	s.Process = p
	return s, nil
}

// streamURL is the stream socket's URL for a filter, with no backfill,
// or resuming after since (GEN:OFFSET) when it is not "".
func (s *server) streamURL(level, search, since string) string {
	q := url.Values{"file": {s.file}, "backfill": {"0"}}
	if since != "" {
		q.Set("since", since)
	}
	if level != "" {
		q.Set("level", level)
	}
	if search != "" {
		q.Set("search", search)
	}
	return "ws://" + s.addr + "/api/logs/stream?" + q.Encode()
}

// dialers make the connections of client i from load.SourceIP(i,
// perAddr): logstream takes at most 32 sockets from one address.
type dialers struct {
	perAddr int
	byIP    map[string]*websocket.Dialer
}

func newDialers(perAddr int) *dialers {
	return &dialers{perAddr: perAddr, byIP: map[string]*websocket.Dialer{}}
}

// dial opens client i's socket to u. Not safe for concurrent use.
func (d *dialers) dial(ctx context.Context, i int, u string) (*websocket.Conn, error) {
	ip := load.SourceIP(i, d.perAddr)
	dl := d.byIP[ip.String()]
	if dl == nil {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
		dl = &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second,
			ReadBufferSize: 4096, WriteBufferSize: 1024}
		d.byIP[ip.String()] = dl
	}
	c, resp, err := dl.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			err = fmt.Errorf("%w (HTTP %s: %s)", err, resp.Status, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("client %d from %s: %w", i, ip, err)
	}
	return c, nil
}

// logFile is the file the benchmark writes and the server follows.
type logFile struct {
	path string
	f    *os.File
	buf  []byte
}

// tempLog creates app.log in a new temporary folder, named after prefix,
// which Close removes.
func tempLog(prefix string) (*logFile, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "app.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &logFile{path: path, f: f}, nil
}

// write appends lines from..from+n-1, each stamped with ts, in one write.
func (l *logFile) write(from, n int, ts time.Duration, step int, words func(int) string, size int) error {
	l.buf = l.buf[:0]
	for seq := from; seq < from+n; seq++ {
		l.buf = appendLine(l.buf, seq, ts, step, words(seq), size)
	}
	if _, err := l.f.Write(l.buf); err != nil {
		return fmt.Errorf("writing the log: %w", err)
	}
	if cap(l.buf) > 4<<20 {
		l.buf = nil
	}
	return nil
}

// truncate empties the file: the server sees a truncation and reads it
// again from the start.
func (l *logFile) truncate() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("truncating the log: %w", err)
	}
	return nil
}

// Close closes the log and removes its folder.
func (l *logFile) Close() error {
	err := l.f.Close()
	os.RemoveAll(filepath.Dir(l.path))
	return err
}
