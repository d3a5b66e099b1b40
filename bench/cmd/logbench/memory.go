package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/bench/internal/load"
	"github.com/macaron-contrib/sockets/bench/internal/procfs"
)

// memRun is one run of the memory scenario.
type memRun struct {
	cfg  config
	base time.Time
	srv  *server
	d    *dialers

	probeLast  atomic.Int64    // seq of the last line the probe got; -1: none
	probeDrops atomic.Int64    // times the server closed the probe's socket
	probeConn  *websocket.Conn // under mu
	closing    atomic.Bool
	probeSkip  atomic.Int64 // lines the probe was told it skipped
	probeMu    sync.Mutex
	probeLat   []int32 // µs, measured lines only; under probeMu

	from atomic.Int64 // the first measured line

	mu         sync.Mutex
	readers    map[string]int          // a non-reader's local address -> its index
	conns      map[int]*websocket.Conn // a non-reader's socket
	closed     chan string             // remote addresses the server logged closed
	words      string                  // k0 k1 … of every line
	redials    atomic.Int64            // non-readers connected again
	redialErrs atomic.Int64
}

func (m *memRun) now() time.Duration { return time.Since(m.base) }

// onLog watches the server's log for non-readers it closed.
func (m *memRun) onLog(line string) {
	if !strings.Contains(line, `msg="stream closed"`) {
		return
	}
	_, rest, ok := strings.Cut(line, " remote=")
	if !ok {
		return
	}
	addr, _, _ := strings.Cut(rest, " ")
	select {
	case m.closed <- addr:
	default: // the redialer is behind: it also redials on its own
	}
}

// dialNonReader connects non-reader i (1-based; 0 is the probe).
func (m *memRun) dialNonReader(ctx context.Context, i int) error {
	c, err := m.d.dial(ctx, i, m.srv.streamURL("", fmt.Sprintf("k%d", i-1), ""))
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.closing.Load() {
		m.mu.Unlock()
		c.Close()
		return errors.New("closing")
	}
	if old := m.conns[i]; old != nil {
		delete(m.readers, old.LocalAddr().String())
		old.Close()
	}
	m.conns[i] = c
	m.readers[c.LocalAddr().String()] = i
	m.mu.Unlock()
	return nil
}

// redial connects again the non-readers the server closed, until ctx is
// done.
func (m *memRun) redial(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case addr := <-m.closed:
			m.mu.Lock()
			i, ok := m.readers[addr]
			m.mu.Unlock()
			if !ok {
				continue // the probe, or one already redialled
			}
			if err := m.dialNonReader(ctx, i); err != nil {
				if ctx.Err() == nil {
					m.redialErrs.Add(1)
				}
				continue
			}
			m.redials.Add(1)
		}
	}
}

// dialProbe connects the probe, resuming after since when it is not "".
func (m *memRun) dialProbe(ctx context.Context, since string) (*websocket.Conn, error) {
	c, err := m.d.dial(ctx, 0, m.srv.streamURL("", "", since))
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing.Load() {
		c.Close()
		return nil, errors.New("closing")
	}
	m.probeConn = c
	return c, nil
}

// probe reads the probe's socket, c. When the server closes it (a slow
// client, its queue full), it connects again with since= its last line,
// as the page would, until ctx is done or closing is set.
func (m *memRun) probe(ctx context.Context, c *websocket.Conn) {
	var buf []byte
	since := ""
	for {
		n, _, err := readMessage(c, &buf)
		if err != nil {
			c.Close()
			if m.closing.Load() || ctx.Err() != nil {
				return
			}
			m.probeDrops.Add(1)
			if c, err = m.dialProbe(ctx, since); err != nil {
				if ctx.Err() == nil && !m.closing.Load() {
					m.redialErrs.Add(1)
				}
				return
			}
			continue
		}
		at := m.now()
		f := parseFrame(buf[:n])
		switch f.kind {
		case frameLine:
			if f.seq >= int(m.from.Load()) {
				m.probeMu.Lock()
				m.probeLat = append(m.probeLat, int32((at-f.ts)/time.Microsecond))
				m.probeMu.Unlock()
			}
			m.probeLast.Store(int64(f.seq))
			since = framePos(buf[:n])
		case frameBehind:
			m.probeSkip.Add(int64(f.skipped))
		}
	}
}

// memory runs the memory scenario once, with a fresh server.
func memory(ctx context.Context, cfg config) (res *load.Result, err error) {
	lf, err := tempLog("logbench-mem-")
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	path := lf.path

	m := &memRun{cfg: cfg, base: time.Now(), d: newDialers(cfg.perAddr),
		readers: map[string]int{}, conns: map[int]*websocket.Conn{}, closed: make(chan string, 1024)}
	m.probeLast.Store(-1)
	m.from.Store(1 << 62)
	var words []string
	for i := range cfg.memViewers {
		words = append(words, "k"+strconv.Itoa(i))
	}
	m.words = strings.Join(words, " ")
	if m.srv, err = startServer(cfg.bin, path, m.onLog); err != nil {
		return nil, err
	}
	defer func() {
		if serr := m.srv.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("logstream: %v\n%s", serr, m.srv.LogTail())
		}
	}()

	probe, err := m.dialProbe(ctx, "")
	if err != nil {
		return nil, err
	}
	// The goroutines below end once rctx is done and the sockets are
	// closed.
	var wg, probeWG sync.WaitGroup
	rctx, stopRedial := context.WithCancel(ctx)
	defer func() {
		stopRedial()
		m.closing.Store(true)
		m.mu.Lock()
		m.probeConn.Close()
		for _, c := range m.conns {
			c.Close()
		}
		m.mu.Unlock()
		wg.Wait()
		probeWG.Wait()
	}()
	probeWG.Go(func() { m.probe(rctx, probe) })
	for i := 1; i <= cfg.memViewers; i++ {
		if err := m.dialNonReader(ctx, i); err != nil {
			return nil, err
		}
	}

	// Warm-up: short lines until the probe has one, so that it is live.
	next := 0
	short := func(int) string { return m.words }
	for m.probeLast.Load() < 0 {
		if m.now() > 30*time.Second {
			return nil, fmt.Errorf("warm-up: the probe got no line within 30 s")
		}
		if err := lf.write(next, 1, m.now(), 0, short, 0); err != nil {
			return nil, err
		}
		next++
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the non-readers are live too by now
	if cfg.memReconnect {
		wg.Go(func() { m.redial(rctx) })
	}

	pid := m.srv.Pid()
	rssBefore, err := procfs.RSS(pid)
	if err != nil {
		return nil, err
	}
	cpu0, _ := procfs.CPUTime(pid)
	// RSS every 50 ms while writing.
	var samples []int64
	var smu sync.Mutex
	sctx, stopSampling := context.WithCancel(rctx)
	defer stopSampling()
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procfs.RSS(pid); err == nil {
				smu.Lock()
				samples = append(samples, v)
				smu.Unlock()
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	})

	m.from.Store(int64(next))
	first := next
	start := m.now()
	batch := max(1, min(16, cfg.memWindow/2))
	lastSeen, lastMove := m.probeLast.Load(), time.Now()
	stalled := false
	const maxFile = 256 << 20
	var fileSize int64
	for m.now()-start < cfg.memTime {
		seen := m.probeLast.Load()
		if seen != lastSeen {
			lastSeen, lastMove = seen, time.Now()
		} else if time.Since(lastMove) > 5*time.Second {
			stalled = true
			break
		}
		ahead := next - 1 - int(seen)
		if fileSize > maxFile && ahead == 0 {
			// The probe has every line: start the file again, so that a
			// fast run does not fill the disk.
			if err := lf.truncate(); err != nil {
				return nil, err
			}
			fileSize = 0
		}
		n := min(batch, cfg.memWindow-ahead)
		if n <= 0 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err := lf.write(next, n, m.now(), 0, short, cfg.memLine); err != nil {
			return nil, err
		}
		next += n
		fileSize += int64(n * cfg.memLine)
	}
	elapsed := (m.now() - start).Seconds()
	got := m.probeLast.Load() - int64(first) + 1
	cpu1, _ := procfs.CPUTime(pid)
	time.Sleep(2 * time.Second) // what is left once the writing stops
	rssAfter, _ := procfs.RSS(pid)
	stopSampling()
	stopRedial()
	wg.Wait() // the sampler and the redialer; the probe reads on

	smu.Lock()
	defer smu.Unlock()
	res = &load.Result{Scenario: "memory", Server: cfg.label, Params: map[string]any{
		"non_readers": cfg.memViewers, "line_bytes": cfg.memLine, "time_s": cfg.memTime.Seconds(),
		"window": cfg.memWindow, "lines": next - first, "rss_samples": len(samples), "reconnect": cfg.memReconnect,
	}}
	add := func(name string, v float64) { res.Metrics = append(res.Metrics, load.Metric{Name: name, Value: v}) }
	// The peak of each 5 s (100 readings), in MiB: RSS stays within a
	// bound or grows.
	var peaks []float64
	for i := 0; i < len(samples); i += 100 {
		peaks = append(peaks, float64(slices.Max(samples[i:min(i+100, len(samples))]))/(1<<20))
	}
	res.Params["rss_peak_mb_each_5s"] = peaks
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var peak, median int64
	if len(sorted) > 0 {
		peak, median = sorted[len(sorted)-1], sorted[len(sorted)/2]
	}
	m.probeMu.Lock()
	lat := slices.Clone(m.probeLat)
	m.probeMu.Unlock()
	slices.Sort(lat)
	add("rss_before_mb", float64(rssBefore)/(1<<20))
	add("rss_median_mb", float64(median)/(1<<20))
	add("rss_peak_mb", float64(peak)/(1<<20))
	add("rss_after_mb", float64(rssAfter)/(1<<20))
	add("probe_lines_per_s", float64(got)/elapsed)
	add("probe_mb_per_s", float64(got)*float64(cfg.memLine)/elapsed/(1<<20))
	add("probe_p50_ms", pct(lat, 50))
	add("probe_p99_ms", pct(lat, 99))
	add("non_reader_reconnects", float64(m.redials.Load()))
	add("server_cores", (cpu1-cpu0).Seconds()/elapsed)
	add("probe_skipped", float64(m.probeSkip.Load()))
	add("probe_disconnects", float64(m.probeDrops.Load()))
	res.OK = !stalled && m.redialErrs.Load() == 0 && len(samples) > 0
	var notes []string
	if stalled {
		notes = append(notes, "stalled: the probe got nothing for 5 s")
	}
	if n := m.redialErrs.Load(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d reconnections failed", n))
	}
	res.Note = strings.Join(notes, "; ")
	return res, nil
}
