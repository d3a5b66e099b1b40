package sockets

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

const hostPlaceholder = "{{host}}"

// originChecker decides whether a request's Origin is allowed. It is made once
// per route: a pattern without {{host}} is compiled there and then; one with
// {{host}} is compiled once per distinct Host, and kept in a bounded cache.
type originChecker struct {
	pattern string
	fixed   *regexp.Regexp

	mu      sync.Mutex
	perHost map[string]*regexp.Regexp
}

// maxOriginHosts bounds the per-host cache, since Host is client input.
const maxOriginHosts = 64

func newOriginChecker(pattern string) (*originChecker, error) {
	oc := &originChecker{pattern: pattern}
	// Compile with a sample host now, so a bad pattern fails at registration.
	re, err := oc.compile("example.com")
	if err != nil {
		return nil, fmt.Errorf("sockets: Options.AllowedOrigin %q: %w", pattern, err)
	}
	if !strings.Contains(pattern, hostPlaceholder) {
		oc.fixed = re
	} else {
		oc.perHost = make(map[string]*regexp.Regexp)
	}
	return oc, nil
}

// compile anchors the pattern at both ends and puts host in literally.
func (oc *originChecker) compile(host string) (*regexp.Regexp, error) {
	p := strings.ReplaceAll(oc.pattern, hostPlaceholder, regexp.QuoteMeta(host))
	return regexp.Compile(`^(?:` + p + `)$`)
}

// allowed reports whether r may be upgraded. A request without Origin comes
// from a non-browser client and is allowed.
func (oc *originChecker) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	re := oc.fixed
	if re == nil {
		re = oc.forHost(r.Host)
		if re == nil {
			return false
		}
	}
	return re.MatchString(origin)
}

func (oc *originChecker) forHost(host string) *regexp.Regexp {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if re, ok := oc.perHost[host]; ok {
		return re
	}
	re, err := oc.compile(host)
	if err != nil {
		return nil
	}
	if len(oc.perHost) >= maxOriginHosts {
		clear(oc.perHost)
	}
	oc.perHost[host] = re
	return re
}
