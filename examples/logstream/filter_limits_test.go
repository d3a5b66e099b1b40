package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/examples/logstream/logline"
)

// costly are searches that would make matching slow: too long, or a short
// regexp whose program is huge. Each matched a line in about 0.35 s.
var costly = []struct{ search, want string }{
	{"/" + strings.Repeat(`(?:x?){999}`, 300) + "#/", "too long"}, // 3.3 KB: fits a filter message, not the limit
	{strings.Repeat("a", logline.MaxSearchLen+1), "too long"},
	{"/" + strings.Repeat(`(?:x?){999}`, 40) + "/", "too complex"},
	{"/(?:.?){999}/", "too complex"},
}

// TestCostlyFiltersAreRefused: the limits apply to the search= parameter
// (a 400, like any invalid filter) and to a filter message (an error frame,
// the old filter kept).
func TestCostlyFiltersAreRefused(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	for _, tc := range costly {
		ts.refused(t, query("search", tc.search), http.StatusBadRequest, tc.want)
	}

	c := ts.stream(t, query("level", "error", "backfill", "0"))
	ts.waitLive(t, path, 1)
	for _, tc := range costly {
		c.send(fmt.Sprintf(`{"search":%q}`, tc.search))
		if f := c.next(); f.isLine() || f.Filter != nil || !strings.Contains(f.Error, tc.want) {
			t.Fatalf("after a search of %d bytes: got %.200s, want an error with %q", len(tc.search), f.raw, tc.want)
		}
	}
	appendLines(t, path, "INFO not shown", "ERROR shown")
	c.expect("ERROR shown")
}

// TestInvalidFilterMessagesInABurst: refused filter messages count toward
// the limit of one handled per refillEvery, so a client cannot make the
// server compile regexps in a tight loop.
func TestInvalidFilterMessagesInABurst(t *testing.T) {
	path := logFile(t, "app.log")
	ts := newTestServer(t, path)
	c := ts.stream(t, query("backfill", "0"))
	ts.waitLive(t, path, 1)
	s := ts.app.streams[path]

	const burst = 200
	start := time.Now()
	for i := range burst {
		c.send(fmt.Sprintf(`{"search":"/(unclosed %d/"}`, i))
	}
	c.send(`{"search":"final-marker"}`)
	errs := 0
	for {
		f := c.next()
		if f.Filter != nil {
			break
		}
		if f.Error == "" {
			t.Fatalf("got %s, want error frames then the acknowledgement", f.raw)
		}
		errs++
	}
	elapsed := time.Since(start)
	handled := s.filterMessages.Load()
	if max := uint64(elapsed/refillEvery) + 2; handled > max {
		t.Errorf("%d filter messages handled in %v, want at most %d (one per %v)", handled, elapsed, max, refillEvery)
	}
	if uint64(errs+1) != handled {
		t.Errorf("%d error frames and 1 acknowledgement for %d messages handled", errs, handled)
	}
	t.Logf("%d of %d filter messages handled in %v", handled, burst+1, elapsed)
	appendLines(t, path, "ERROR not this", "INFO final-marker here")
	c.expect("INFO final-marker here")
}
