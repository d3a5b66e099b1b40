package sockets

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// calledHandler counts calls of the next handler.
func calledHandler(n *atomic.Int32) func(done <-chan bool) {
	return func(done <-chan bool) { n.Add(1) }
}

func TestRefusedRequests(t *testing.T) {
	var calls atomic.Int32
	ts := newTestServer(t, Messages(quiet()), calledHandler(&calls))

	upgrade := func(r *http.Request) {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	tests := []struct {
		name   string
		method string
		edit   func(r *http.Request)
		want   int
	}{
		{"POST", http.MethodPost, upgrade, http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, upgrade, http.StatusMethodNotAllowed},
		{"plain GET", http.MethodGet, func(*http.Request) {}, http.StatusBadRequest},
		{"no key", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Del("Sec-WebSocket-Key") }, http.StatusBadRequest},
		{"bad key", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Sec-WebSocket-Key", "short") }, http.StatusBadRequest},
		{"bad version", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Sec-WebSocket-Version", "8") }, http.StatusBadRequest},
		{"cross-site origin", http.MethodGet, func(r *http.Request) { upgrade(r); r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.URL+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(req)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status: got %d, want %d (body %q)", resp.StatusCode, tt.want, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type: got %q, want text/plain", ct)
			}
			if len(body) == 0 || len(body) > 200 {
				t.Errorf("body: got %q, want a short reason", body)
			}
			if tt.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET" {
				t.Errorf("Allow: got %q, want GET", resp.Header.Get("Allow"))
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("next handler called %d times for refused requests, want 0", n)
	}
}

func TestOriginCheck(t *testing.T) {
	const host = "app.example.com"
	tests := []struct {
		name    string
		pattern string
		origin  string
		ok      bool
	}{
		{"same host https", "", "https://app.example.com", true},
		{"same host http", "", "http://app.example.com", true},
		{"no origin", "", "", true},
		{"dot is literal", "", "https://appXexample.com", false},
		{"anchored at the start", "", "https://evil.com/?https://app.example.com", false},
		{"anchored at the end", "", "https://app.example.com.evil.com", false},
		{"other scheme", "", "ftp://app.example.com", false},
		{"port differs from Host", "", "https://app.example.com:8443", false},
		{"fixed pattern", `https://trusted\.example`, "https://trusted.example", true},
		{"fixed pattern anchored", `https://trusted\.example`, "https://trusted.example.evil", false},
		{"fixed pattern prefix", `https://trusted\.example`, "https://x.https://trusted.example", false},
		{"alternation stays anchored", `https://a\.example|https://b\.example`, "https://b.example.evil", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pattern := tt.pattern
			if pattern == "" {
				pattern = defaultAllowedOrigin
			}
			oc, err := newOriginChecker(pattern)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodGet, "http://"+host+"/ws", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := oc.allowed(r); got != tt.ok {
				t.Errorf("allowed(Origin %q, Host %q) with %q: got %v, want %v", tt.origin, host, pattern, got, tt.ok)
			}
		})
	}
}

func TestOriginOverTheWire(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), echoStrings)
	hostHeader := func(origin string) http.Header {
		h := http.Header{"Host": {"app.example.com"}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return h
	}
	for _, origin := range []string{"https://appXexample.com", "https://evil.com/?https://app.example.com"} {
		_, resp, err := ts.tryDial(hostHeader(origin))
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: got err %v, want 403", origin, err)
		}
	}
	for _, origin := range []string{"https://app.example.com", ""} {
		ws := ts.dial(t, hostHeader(origin))
		ws.Close()
	}
	ts.waitFinished(t, 2)
}

func TestOriginCompiledOncePerHost(t *testing.T) {
	oc, err := newOriginChecker(defaultAllowedOrigin)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://app.example.com/ws", nil)
	r.Header.Set("Origin", "https://app.example.com")
	for i := 0; i < 100; i++ {
		if !oc.allowed(r) {
			t.Fatal("same-host origin refused")
		}
	}
	if got := compiledHosts(oc); got != 1 {
		t.Errorf("patterns compiled for one host over 100 requests: got %d, want 1", got)
	}
	// Host is client input: the cache stays bounded.
	for i := 0; i < 3*maxOriginHosts; i++ {
		r.Host = strings.Repeat("h", i+1) + ".example"
		oc.allowed(r)
	}
	if got := compiledHosts(oc); got > maxOriginHosts {
		t.Errorf("cached host patterns: got %d, want at most %d", got, maxOriginHosts)
	}
}

func TestCheckOriginOption(t *testing.T) {
	opts := quiet()
	opts.CheckOrigin = func(r *http.Request) bool { return r.Header.Get("Origin") == "https://partner.example" }
	ts := newTestServer(t, Messages(opts), echoStrings)
	if _, resp, err := ts.tryDial(http.Header{"Origin": {"http://" + strings.TrimPrefix(ts.URL, "http://")}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("same-host origin with CheckOrigin refusing it: got %v, want 403", err)
	}
	ws := ts.dial(t, http.Header{"Origin": {"https://partner.example"}})
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestBadAllowedOriginPanicsAtRegistration(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Messages with AllowedOrigin \"(\" did not panic")
		}
	}()
	Messages(&Options{AllowedOrigin: "("})
}

// Handlers after the binding run in order, as with go-macaron/sockets: a
// non-blocking one (setting up, say, the user) before the one that serves
// the socket. The upgrade must not end the chain.
func TestEveryHandlerAfterTheBindingRuns(t *testing.T) {
	m := macaron.New()
	m.Get("/ws", Messages(quiet()),
		func(ctx *macaron.Context) { ctx.Data["user"] = "ann" },
		func(ctx *macaron.Context, receiver <-chan string, sender chan<- string, done <-chan bool) {
			for {
				select {
				case msg := <-receiver:
					sender <- ctx.Data["user"].(string) + ": " + msg
				case <-done:
					return
				}
			}
		})
	srv := httptest.NewServer(m)
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	ws.SetReadDeadline(timeIn())
	_, got, err := ws.ReadMessage()
	if err != nil || string(got) != "ann: hi" {
		t.Errorf("got %q, %v; want \"ann: hi\" from the last handler", got, err)
	}
}

// An upgrade that fails after gorilla took the connection over (the client
// sent data right behind its handshake) ends the chain like any refusal:
// the next handler, which needs the binding's channels, is not called.
func TestFailedUpgradeAfterTakeoverEndsTheChain(t *testing.T) {
	var called, panicked atomic.Int32
	finished := make(chan struct{})
	m := macaron.New()
	m.Use(func(ctx *macaron.Context) {
		defer close(finished)
		defer func() {
			if recover() != nil {
				panicked.Add(1)
			}
		}()
		ctx.Next()
	})
	m.Get("/ws", Messages(quiet()), func(receiver <-chan string, done <-chan bool) { called.Add(1) })
	srv := httptest.NewServer(m)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nEXTRA"))
	// The server closes the connection once it is done with the request.
	c.SetReadDeadline(timeIn())
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	recv(t, finished, "the end of the request")
	if called.Load() != 0 || panicked.Load() != 0 {
		t.Errorf("after the failed upgrade: next handler called %d times, %d panics; want 0 and 0", called.Load(), panicked.Load())
	}
}

// compiledHosts counts the host patterns oc has compiled and keeps.
func compiledHosts(oc *originChecker) int {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return len(oc.perHost)
}
