package testkit

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections from 127.0.0.1 to a target. Cut closes
// the connections in flight (later ones are forwarded again); Silence stops
// forwarding in both directions without closing anything, as a half-open
// connection does; Stall stops reading from either side, so that their
// writes block once the socket buffers are full, as with a peer that stopped
// reading. It stops with the test.
type Proxy struct {
	ln      net.Listener
	target  string
	silent  atomic.Bool
	stalled chan struct{} // closed by Stall
	stall   sync.Once
	stopped chan struct{} // closed when the proxy stops
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{} // nil once closed
}

// NewProxy starts a proxy to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}),
		stalled: make(chan struct{}), stopped: make(chan struct{})}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's http:// base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Cut closes every connection in flight.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Silence drops whatever either side sends from now on, closing nothing.
func (p *Proxy) Silence() { p.silent.Store(true) }

// Stall stops reading from the connections in flight and later ones, until
// the test ends; Cut still closes them.
func (p *Proxy) Stall() { p.stall.Do(func() { close(p.stalled) }) }

func (p *Proxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, Wait)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.conns == nil { // closed
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()

	var pipes sync.WaitGroup
	pipes.Go(func() { p.pipe(server, client) })
	pipes.Go(func() { p.pipe(client, server) })
	pipes.Wait()
	p.mu.Lock()
	if p.conns != nil {
		delete(p.conns, client)
		delete(p.conns, server)
	}
	p.mu.Unlock()
}

// pipe copies src to dst until either fails, then closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer func() {
		dst.Close()
		src.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		select {
		case <-p.stalled:
			<-p.stopped
			return
		default:
		}
		n, err := src.Read(buf)
		if n > 0 && !p.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) close() {
	close(p.stopped)
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
