package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// demo writes a plausible application log into a temporary file, a few
// lines per second, so that a first run has something live to show.
type demo struct {
	dir, path string
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	err       error // the writer's error, once it stopped
}

// startDemo creates the temporary file, in a new directory under base ("":
// the system's temporary directory), with some history in it and starts
// writing. Call stop to end it and remove the directory.
func startDemo(base string) (*demo, error) {
	dir, err := os.MkdirTemp(base, "logstream-demo-")
	if err != nil {
		return nil, err
	}
	d := &demo{dir: dir, path: filepath.Join(dir, "app.log")}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g := newLogGen(rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42)))
	w := bufio.NewWriter(f)
	// A few minutes of history for the backfill.
	now := time.Now()
	for i := 60; i > 0; i-- {
		w.WriteString(g.line(now.Add(-time.Duration(i) * 3 * time.Second)))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		os.RemoveAll(dir)
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Go(func() {
		defer f.Close()
		for {
			pause := time.Duration(150+g.r.IntN(600)) * time.Millisecond
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			for range 1 + g.r.IntN(3) {
				w.WriteString(g.line(time.Now()))
			}
			if err := w.Flush(); err != nil {
				d.err = err
				return
			}
		}
	})
	return d, nil
}

// stop ends the writer and removes the temporary file.
func (d *demo) stop() error {
	d.cancel()
	d.wg.Wait()
	if err := os.RemoveAll(d.dir); err != nil {
		return err
	}
	return d.err
}

// logGen makes up log lines: mostly JSON, some logfmt, some plain text.
type logGen struct {
	r   *rand.Rand
	seq int
}

func newLogGen(r *rand.Rand) *logGen { return &logGen{r: r} }

var (
	demoPaths   = []string{"/api/orders", "/api/orders/%d", "/api/users/%d", "/api/cart", "/healthz", "/api/search?q=shoes", "/login"}
	demoMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	demoWarns   = []string{"slow query", "retrying request", "cache miss storm", "rate limit close", "deprecated API used", "connection pool at 85%"}
	demoErrors  = []string{"payment provider timeout", "database connection reset", "upstream returned 502", "failed to publish event", "invalid token signature"}
	demoDebug   = []string{"cache hit", "loaded config", "opened connection", "scheduled job", "flushed metrics"}
	demoAgents  = []string{"Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", `<img src=x onerror=alert(1)> scanner`, "Go-http-client/1.1"}
)

func (g *logGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// line returns one line at time t, with its newline.
func (g *logGen) line(t time.Time) string {
	g.seq++
	switch n := g.r.IntN(100); {
	case n < 8:
		return g.logfmt(t)
	case n < 14:
		return g.plain(t)
	default:
		return g.json(t)
	}
}

func (g *logGen) level() string {
	switch n := g.r.IntN(100); {
	case n < 18:
		return "debug"
	case n < 75:
		return "info"
	case n < 90:
		return "warn"
	}
	return "error"
}

func (g *logGen) path() string {
	p := g.pick(demoPaths)
	if strings.Contains(p, "%d") {
		p = fmt.Sprintf(p, 1000+g.r.IntN(9000))
	}
	return p
}

func (g *logGen) json(t time.Time) string {
	rec := map[string]any{"time": t.Format(time.RFC3339Nano), "level": g.level()}
	switch rec["level"] {
	case "debug":
		rec["msg"] = g.pick(demoDebug)
		rec["component"] = g.pick([]string{"cache", "db", "scheduler", "metrics"})
	case "info":
		rec["msg"] = "request served"
		rec["method"] = g.pick(demoMethods)
		rec["path"] = g.path()
		rec["status"] = g.pick([]string{"200", "200", "200", "201", "204", "304"})
		rec["duration_ms"] = float64(g.r.IntN(20000)) / 100
		rec["user_agent"] = g.pick(demoAgents)
	case "warn":
		rec["msg"] = g.pick(demoWarns)
		rec["duration_ms"] = 500 + g.r.IntN(3000)
	case "error":
		rec["msg"] = g.pick(demoErrors)
		rec["path"] = g.path()
		rec["attempt"] = 1 + g.r.IntN(3)
	}
	rec["request_id"] = fmt.Sprintf("%08x", g.r.Uint32())
	b, _ := json.Marshal(rec)
	return string(b) + "\n"
}

func (g *logGen) logfmt(t time.Time) string {
	lvl := g.level()
	msg := "job finished"
	switch lvl {
	case "warn":
		msg = g.pick(demoWarns)
	case "error":
		msg = g.pick(demoErrors)
	case "debug":
		msg = g.pick(demoDebug)
	}
	return fmt.Sprintf("time=%s level=%s msg=%q worker=%d took=%dms\n",
		t.Format(time.RFC3339), lvl, msg, 1+g.r.IntN(8), g.r.IntN(2000))
}

func (g *logGen) plain(t time.Time) string {
	stamp := t.Format("2006-01-02 15:04:05.000")
	if g.r.IntN(3) == 0 {
		return fmt.Sprintf("%s ERROR worker: job %d failed: %s\n\tat worker.run (worker.go:%d)\n",
			stamp, g.seq, g.pick(demoErrors), 100+g.r.IntN(300))
	}
	return fmt.Sprintf("%s INFO  scheduler: tick %d, %d jobs queued\n", stamp, g.seq, g.r.IntN(40))
}
