package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Target says where and how to connect.
type Target struct {
	// URL is the server's base, ws://HOST:PORT.
	URL string
	// URLs are the bases of more instances of the server, for a server
	// spread over several: connections that receive (fan-out's
	// subscribers) are dealt round-robin over URL and URLs; the others
	// use URL.
	URLs []string
	// PID is the server's process id, for /proc readings; 0 skips them.
	PID int
	// Origin, when set, is sent as the Origin header; "same" means
	// http://HOST:PORT of URL.
	Origin string
	// DialConcurrency bounds simultaneous handshakes (default 64).
	DialConcurrency int
}

var writePool sync.Pool

var dialer = &websocket.Dialer{
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   4096,
	WriteBufferSize:  1024,
	WriteBufferPool:  &writePool,
}

func (t Target) header() (http.Header, error) {
	if t.Origin == "" {
		return nil, nil
	}
	origin := t.Origin
	if origin == "same" {
		u, err := url.Parse(t.URL)
		if err != nil {
			return nil, err
		}
		origin = "http://" + u.Host
	}
	return http.Header{"Origin": {origin}}, nil
}

// dial opens one websocket to path.
func (t Target) dial(ctx context.Context, path string) (*websocket.Conn, error) {
	return t.dialBase(ctx, t.URL, path)
}

// dialBase opens one websocket to path on base.
func (t Target) dialBase(ctx context.Context, base, path string) (*websocket.Conn, error) {
	h, err := t.header()
	if err != nil {
		return nil, err
	}
	c, resp, err := dialer.DialContext(ctx, base+path, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", path, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	return c, nil
}

// dialAll opens n websockets to path, DialConcurrency at a time, dealt
// round-robin over URL and URLs. It returns
// the connections made (nil where a dial failed), the number of failures and
// the first error.
func (t Target) dialAll(ctx context.Context, path string, n int) ([]*websocket.Conn, int, error) {
	conc := t.DialConcurrency
	if conc <= 0 {
		conc = 64
	}
	conns := make([]*websocket.Conn, n)
	var next, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				base := t.URL
				if k := i % (1 + len(t.URLs)); k > 0 {
					base = t.URLs[k-1]
				}
				c, err := t.dialBase(ctx, base, path)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return conns, int(failed.Load()), firstErr
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// readInto reads the next message into buf, returning its length; a
// message longer than buf is read to its end and reported with n > len(buf).
func readInto(c *websocket.Conn, buf []byte) (n int, typ int, err error) {
	typ, r, err := c.NextReader()
	if err != nil {
		return 0, 0, err
	}
	for {
		if n == len(buf) {
			m, err := io.Copy(io.Discard, r)
			return n + int(m), typ, err
		}
		k, err := r.Read(buf[n:])
		n += k
		if err == io.EOF {
			return n, typ, nil
		}
		if err != nil {
			return n, typ, err
		}
	}
}

// SourceIP returns the loopback address client i connects from when at
// most perAddr clients may share one: the example apps cap the connections
// from one address (MaxConnectionsPerClient, 32), and 127.0.0.2,
// 127.0.0.3 ... are all this machine on Linux.
func SourceIP(i, perAddr int) net.IP {
	n := 2 + i/perAddr // 127.0.0.2 onwards
	return net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))
}
