package sockets

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"gopkg.in/macaron.v1"
)

// hostChecker decides whether a request's Host is one of
// Options.AllowedHosts: the guard against DNS rebinding.
type hostChecker struct {
	exact    map[string]bool // name:port, as the Host header carries it
	names    map[string]bool // a name without port: any port
	suffixes []string        // "*.example.com": ".example.com"
}

// newHostChecker returns nil for an empty list: every Host is allowed.
func newHostChecker(list []string) (*hostChecker, error) {
	if len(list) == 0 {
		return nil, nil
	}
	h := &hostChecker{exact: make(map[string]bool), names: make(map[string]bool)}
	for _, entry := range list {
		e := strings.ToLower(strings.TrimSpace(entry))
		switch {
		case e == "" || strings.ContainsAny(e, "/ \t"):
			return nil, fmt.Errorf("sockets: Options.AllowedHosts: %q is not a host", entry)
		case strings.HasPrefix(e, "*."):
			h.suffixes = append(h.suffixes, e[1:])
		case hasPort(e):
			h.exact[e] = true
		default:
			h.names[strings.Trim(e, "[]")] = true
		}
	}
	return h, nil
}

// HostCheck returns a function reporting whether a request's Host is one
// of allowed, read as Options.AllowedHosts reads it (empty: every Host),
// for an app's other routes: a page or an API that a DNS-rebinding page
// must not read either. It fails for an entry that is not a host.
func HostCheck(allowed []string) (func(*http.Request) bool, error) {
	h, err := newHostChecker(allowed)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return func(*http.Request) bool { return true }, nil
	}
	return h.allowed, nil
}

// HostGuard returns a Macaron handler that answers 403 ("host not
// allowed") to a request whose Host is not one of allowed, read as
// Options.AllowedHosts reads it, and lets the others through: the guard
// against DNS rebinding for every route of an app (m.Use(guard)), not its
// sockets only. It fails for an entry that is not a host.
func HostGuard(allowed []string) (macaron.Handler, error) {
	ok, err := HostCheck(allowed)
	if err != nil {
		return nil, err
	}
	return func(ctx *macaron.Context) {
		if !ok(ctx.Req.Request) {
			http.Error(ctx.Resp, "host not allowed", http.StatusForbidden)
		}
	}, nil
}

// hasPort reports whether a host entry names a port: "name:port" or
// "[v6]:port".
func hasPort(e string) bool {
	_, _, err := net.SplitHostPort(e)
	return err == nil
}

// allowed reports whether r's Host may be served.
func (h *hostChecker) allowed(r *http.Request) bool {
	host := strings.ToLower(r.Host)
	if h.exact[host] {
		return true
	}
	name := host
	if n, _, err := net.SplitHostPort(host); err == nil {
		name = n
	}
	name = strings.Trim(name, "[]")
	if h.names[name] {
		return true
	}
	for _, suffix := range h.suffixes {
		if len(name) > len(suffix) && strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// maxLogged bounds a value from the client in a log line; maxLoggedError
// bounds the text of an error, which may quote one.
const (
	maxLogged      = 200
	maxLoggedError = 400
)

// clip quotes a value from the client for a log line, cut to maxLogged
// bytes with its length when longer.
func clip(s string) string {
	if len(s) <= maxLogged {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:maxLogged], len(s))
}

// clipBytes is clip for a payload.
func clipBytes(b []byte) string {
	if len(b) <= maxLogged {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q… (%d bytes)", b[:maxLogged], len(b))
}

// clipText cuts a text (an error's) to maxLoggedError bytes, at the start
// of a character, with its length when longer.
func clipText(s string) string {
	if len(s) <= maxLoggedError {
		return s
	}
	i := maxLoggedError
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
}

// ListenHosts returns the AllowedHosts of a server listening on addr
// (host:port): the host itself and, for a loopback address, the names of
// the loopback ("localhost", "127.0.0.1", "::1"), any port. For an address
// on every interface (":4000", "0.0.0.0:4000") it returns nil, since the
// names the server is reached by cannot be known: list them yourself.
func ListenHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		return nil
	case host == "localhost" || (ip != nil && ip.IsLoopback()):
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if host != "localhost" && host != "127.0.0.1" && host != "::1" {
			hosts = append(hosts, host)
		}
		return hosts
	}
	return []string{host}
}
