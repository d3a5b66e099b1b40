package main

import (
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
