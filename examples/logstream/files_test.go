package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// A file that does not exist yet is waited for, and the log says so (a
// missing directory is refused: TestNewAppErrors).
func TestFileArguments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	ts := newTestServerWith(t, config{Files: []string{path}})
	if !strings.Contains(ts.log.String(), `msg="waiting for the file to be created" file=`+path) {
		t.Errorf("no word of waiting for %s:\n%s", path, ts.log)
	}
	appendLines(t, path, "at last")
	ts.waitRing(t, path, 1)
	c := ts.stream(t, query("backfill", "1"))
	c.expect("at last")
	// One level per log line (logged before the first frame): the stream's
	// filter is min_level.
	for _, line := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(line, "stream opened") && strings.Count(line, " level=") != 1 {
			t.Errorf("a log line with %d level keys: %s", strings.Count(line, " level="), line)
		}
	}
}

// A file name a client makes up is logged cut to a few hundred bytes, with
// its length, however long it is.
func TestLongFileNameIsLoggedClipped(t *testing.T) {
	ts := newTestServer(t, logFile(t, "app.log"))
	long := "/" + strings.Repeat("é", 16<<10)
	ts.refused(t, query("file", long), http.StatusForbidden, "cannot be streamed")
	for _, line := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(line, "refused a file") && (len(line) > 1024 || !strings.Contains(line, fmt.Sprint("file_len=", len(long)))) {
			t.Errorf("the refusal's log line is %d bytes (want under 1 KiB, with file_len): %.300s", len(line), line)
		}
	}
}
