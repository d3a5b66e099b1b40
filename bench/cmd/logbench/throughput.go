package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/bench/internal/load"
	"github.com/macaron-contrib/sockets/bench/internal/procfs"
)

// viewer is one stream socket of the throughput scenario and what its
// reader saw. Fields without a comment belong to the reader goroutine.
type viewer struct {
	index  int
	filter int // in filters; -1: none
	conn   *websocket.Conn

	last   int  // seq of the last line received; -1: none yet
	behind bool // a "behind" frame came since the last line

	first        atomic.Bool  // it got a line
	skipped      atomic.Int64 // lines it should have had, announced skipped
	lost         atomic.Int64 // lines it should have had, missing unannounced
	dup          atomic.Int64 // lines at or before the last one received
	behindFrames atomic.Int64
	serverSkip   atomic.Int64 // the sum of the "behind" frames' counts
	gaps         atomic.Int64
	invalid      atomic.Int64
	gone         atomic.Bool // its socket ended before the run's end

	mu  sync.Mutex
	lat [][]int32 // per step: the delay of each line, µs; under mu
}

func (v *viewer) wants(seq int) bool { return v.filter < 0 || filters[v.filter].match(seq) }

// tpRun is one run of the throughput scenario: one server, its viewers,
// the lines written and the counts per line.
type tpRun struct {
	cfg     config
	base    time.Time
	viewers []*viewer
	perF    []int // viewers per filter
	plain   int   // viewers without a filter

	from      atomic.Int64   // the first line measured: the ones before warm up
	counts    []atomic.Int32 // per line: viewers that got it or were told it was skipped
	completed atomic.Int64   // measured lines every viewer that should got or skipped
	steps     []*tpStep
	progress  chan struct{} // a line was completed (buffered, 1)
	closing   atomic.Bool
	wg        sync.WaitGroup
}

// tpStep is one step of a run: lines [lo, hi) at rate a second (0: as
// fast as the window allows).
type tpStep struct {
	rate       float64
	lo         atomic.Int64 // its first line; math.MaxInt64 until it starts
	hi         int          // after its last line, once written
	completed  atomic.Int64
	deliveries atomic.Int64
	lastDone   atomic.Int64 // ns since base of the last completion
}

func (r *tpRun) now() time.Duration { return time.Since(r.base) }

// expected is the number of viewers that should get line seq.
func (r *tpRun) expected(seq int) int32 {
	n := r.plain
	for i, f := range filters {
		if r.perF[i] > 0 && f.match(seq) {
			n += r.perF[i]
		}
	}
	return int32(n)
}

// settle counts line seq as received or skipped by one more viewer.
func (r *tpRun) settle(seq, step int) {
	if seq >= len(r.counts) {
		return
	}
	if r.counts[seq].Add(1) == r.expected(seq) {
		r.completed.Add(1)
		if step < len(r.steps) {
			s := r.steps[step]
			s.completed.Add(1)
			s.lastDone.Store(int64(r.now()))
		}
		select {
		case r.progress <- struct{}{}:
		default:
		}
	}
}

// read is v's reader.
func (r *tpRun) read(v *viewer) {
	defer r.wg.Done()
	var buf []byte
	for {
		n, _, err := readMessage(v.conn, &buf)
		if err != nil {
			if !r.closing.Load() {
				v.gone.Store(true)
			}
			return
		}
		at := r.now()
		f := parseFrame(buf[:n])
		switch f.kind {
		case frameLine:
			r.line(v, f, at)
		case frameBehind:
			v.behind = true
			v.behindFrames.Add(1)
			v.serverSkip.Add(int64(f.skipped))
		case frameGap:
			v.gaps.Add(1)
		case frameBad:
			v.invalid.Add(1)
		}
	}
}

// line counts a line v received, and the lines it should have received
// before it and did not.
func (r *tpRun) line(v *viewer, f parsedFrame, at time.Duration) {
	v.first.Store(true)
	if f.seq <= v.last {
		v.dup.Add(1)
		return
	}
	from := int(r.from.Load())
	if v.last >= 0 {
		for seq := max(v.last+1, from); seq < f.seq; seq++ {
			if !v.wants(seq) {
				continue
			}
			if v.behind {
				v.skipped.Add(1)
			} else {
				v.lost.Add(1)
			}
			r.settle(seq, r.stepOf(seq))
		}
	}
	v.behind = false
	v.last = f.seq
	if f.seq < from || f.step >= len(r.steps) {
		return
	}
	if !v.wants(f.seq) {
		v.invalid.Add(1) // a line its filter should not pass
		return
	}
	v.mu.Lock()
	v.lat[f.step] = append(v.lat[f.step], int32((at-f.ts)/time.Microsecond))
	v.mu.Unlock()
	r.steps[f.step].deliveries.Add(1)
	r.settle(f.seq, f.step)
}

// stepOf returns the step of a measured line.
func (r *tpRun) stepOf(seq int) int {
	for i := len(r.steps) - 1; i >= 0; i-- {
		if r.steps[i].lo.Load() <= int64(seq) {
			return i
		}
	}
	return 0
}

// readMessage reads the next message into *buf, growing it as needed.
func readMessage(c *websocket.Conn, buf *[]byte) (int, int, error) {
	typ, rd, err := c.NextReader()
	if err != nil {
		return 0, 0, err
	}
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			*buf = b
			if errors.Is(err, io.EOF) {
				return len(b), typ, nil
			}
			return len(b), typ, err
		}
	}
}

// throughput runs the throughput scenario once: a fresh server, the
// viewers, a warm-up, then one step per rate. It returns the results of
// the steps it ran, even with an error.
func throughput(ctx context.Context, cfg config) (results []*load.Result, err error) {
	lf, err := tempLog("logbench-")
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	path := lf.path
	srv, err := startServer(cfg.bin, path, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("logstream: %v\n%s", serr, srv.LogTail())
		}
	}()

	r := &tpRun{cfg: cfg, base: time.Now(), perF: make([]int, len(filters)), progress: make(chan struct{}, 1)}
	for _, rate := range cfg.rates {
		s := &tpStep{rate: rate}
		s.lo.Store(math.MaxInt64)
		r.steps = append(r.steps, s)
	}
	r.from.Store(int64(cfg.maxLines)) // nothing counts during the warm-up
	d := newDialers(cfg.perAddr)
	defer func() {
		r.closing.Store(true)
		for _, v := range r.viewers {
			v.conn.Close()
		}
		r.wg.Wait()
	}()
	for i := range cfg.viewers {
		v := &viewer{index: i, filter: -1, last: -1, lat: make([][]int32, len(r.steps))}
		if i < cfg.filtered {
			v.filter = i % len(filters)
			r.perF[v.filter]++
		} else {
			r.plain++
		}
		u := srv.streamURL("", "", "")
		if v.filter >= 0 {
			u = srv.streamURL(filters[v.filter].level, filters[v.filter].search, "")
		}
		if v.conn, err = d.dial(ctx, i, u); err != nil {
			return nil, err
		}
		r.viewers = append(r.viewers, v)
		r.wg.Add(1)
		go r.read(v)
	}

	// Warm-up: lines at 200 a second until every viewer got one (each
	// joined its group), then 1 s more.
	next := 0
	words := tagWords
	warm := func(d time.Duration, until func() bool) error {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if until != nil && until() {
				return nil
			}
			if err := lf.write(next, 10, r.now(), len(r.steps), words, cfg.size); err != nil {
				return err
			}
			next += 10
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		if until != nil {
			return errors.New("not every viewer got a line within 30 s")
		}
		return nil
	}
	allGot := func() bool {
		for _, v := range r.viewers {
			if !v.first.Load() {
				return false
			}
		}
		return true
	}
	if err := warm(30*time.Second, allGot); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := warm(time.Second, nil); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(200 * time.Millisecond) // the warm-up's last lines arrive
	r.counts = make([]atomic.Int32, next+cfg.maxLines)
	r.from.Store(int64(next))

	for i := range r.steps {
		res, n, err := r.measure(ctx, srv, lf, i, next)
		if err != nil {
			return results, err
		}
		next += n
		results = append(results, res)
		if !res.OK && i < len(r.steps)-1 {
			break
		}
		select {
		case <-ctx.Done():
			return results, ctx.Err()
		case <-time.After(time.Second): // let the machine settle
		}
	}
	return results, nil
}

// measure runs step i from line lo on and reports it, with the number of
// lines it wrote.
func (r *tpRun) measure(ctx context.Context, srv *server, lf *logFile, i, lo int) (*load.Result, int, error) {
	cfg := r.cfg
	s := r.steps[i]
	s.lo.Store(int64(lo))
	res := &load.Result{Scenario: "throughput@" + rateName(s.rate), Server: cfg.label, Params: map[string]any{
		"viewers": len(r.viewers), "filtered": cfg.filtered, "filters": len(filters), "rate": s.rate,
		"size": cfg.size, "step_s": cfg.step.Seconds(), "window": cfg.window,
	}}
	c0 := r.counters()
	srvCPU0, _ := procfs.CPUTime(srv.Pid())
	self0, _ := procfs.CPUTime(os.Getpid())
	tasks0, tasksErr := procfs.Tasks("/proc")
	rss := sampleRSS(srv.Pid(), 50*time.Millisecond)
	start := r.now()

	// Write: paced at rate, or as fast as the window allows, never more
	// than window lines in flight (written, not yet received by every
	// viewer that should get them).
	next := lo
	limit := len(r.counts)
	batch := max(1, min(256, cfg.window/4))
	var lag time.Duration // how far the pacer was behind at worst
	stalled := false
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	lastProgress, lastDone := time.Now(), r.completed.Load()
	var writeErr error
	for r.now()-start < cfg.step && next < limit {
		inflight := next - int(r.from.Load()) - int(r.completed.Load())
		room := cfg.window - inflight
		n := min(room, batch, limit-next)
		if s.rate > 0 {
			due := lo + int(s.rate*(r.now()-start).Seconds()) - next
			if due > 0 && room <= 0 {
				lag = max(lag, time.Duration(float64(due)/s.rate*float64(time.Second)))
			}
			n = min(n, due)
		}
		if n > 0 {
			if writeErr = lf.write(next, n, r.now(), i, tagWords, cfg.size); writeErr != nil {
				break
			}
			next += n
			if s.rate <= 0 {
				continue
			}
		}
		if done := r.completed.Load(); done != lastDone {
			lastDone, lastProgress = done, time.Now()
		} else if room <= 0 && time.Since(lastProgress) > 2*time.Second {
			stalled = true
			break
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-tick.C:
		case <-r.progress:
		}
	}
	s.hi = next
	sent := r.now() - start
	n := next - lo

	// Wait for every line, at most -drain, and 2 s without progress.
	load.WaitDrain(ctx, int64(n), s.completed.Load, s.completed.Load, cfg.drain, 2*time.Second)
	waited := r.now()
	srvCPU1, _ := procfs.CPUTime(srv.Pid())
	self1, _ := procfs.CPUTime(os.Getpid())
	tasks1, tasksErr1 := procfs.Tasks("/proc")
	peak := rss()
	c1 := r.counters()

	completed := s.completed.Load()
	end := waited
	if completed > 0 {
		end = time.Duration(s.lastDone.Load())
	}
	elapsed := (end - start).Seconds()
	wall := (waited - start).Seconds()
	var lat []int32
	for _, v := range r.viewers {
		v.mu.Lock()
		lat = append(lat, v.lat[i]...)
		v.mu.Unlock()
	}
	slices.Sort(lat)
	// Deliveries that never came, whether or not a later line revealed
	// them: what every line of the step should have had, less what came
	// or was announced skipped.
	var expected, settled int64
	for seq := lo; seq < next; seq++ {
		expected += int64(r.expected(seq))
		settled += int64(r.counts[seq].Load())
	}
	missing := expected - settled + (c1.lost - c0.lost)
	add := func(name string, v float64, unit string) {
		res.Metrics = append(res.Metrics, load.Metric{Name: name, Value: v, Unit: unit})
	}
	add("offered_lines_per_s", float64(n)/sent.Seconds(), "")
	add("lines_per_s", float64(completed)/elapsed, "")
	add("deliveries_per_s", float64(s.deliveries.Load())/elapsed, "")
	add("p50_ms", pct(lat, 50), "")
	add("p99_ms", pct(lat, 99), "")
	add("max_ms", pct(lat, 100), "")
	problems := []struct {
		name string
		v    int64
	}{
		{"lost", missing},
		{"skipped", c1.skipped - c0.skipped},
		{"behind_frames", c1.behindFrames - c0.behindFrames},
		{"gaps", c1.gaps - c0.gaps},
		{"dup", c1.dup - c0.dup},
		{"invalid", c1.invalid - c0.invalid},
		{"viewers_gone", c1.gone - c0.gone},
	}
	ok := completed == int64(n) && !stalled && writeErr == nil && n > 0
	for _, p := range problems {
		add(p.name, float64(p.v), "")
		if p.v != 0 {
			ok = false
		}
	}
	if wall > 0 {
		add("server_cores", (srvCPU1-srvCPU0).Seconds()/wall, "")
		add("client_cores", (self1-self0).Seconds()/wall, "")
	}
	add("server_rss_peak_mb", float64(peak)/(1<<20), "")
	var others time.Duration
	if tasksErr == nil && tasksErr1 == nil && wall > 0 {
		var kthreads time.Duration
		others, kthreads = procfs.OthersCPU(tasks0, tasks1, os.Getpid(), srv.Pid())
		add("others_cores", others.Seconds()/wall, "")
		add("kthread_cores", kthreads.Seconds()/wall, "")
	}
	if s.rate > 0 {
		add("pacer_lag_ms", float64(lag)/float64(time.Millisecond), "")
	}
	res.Params["lines"] = n
	res.Params["completed"] = completed
	res.Params["deliveries"] = s.deliveries.Load()
	res.Params["expected_deliveries"] = expected
	res.Params["server_skipped"] = c1.serverSkip - c0.serverSkip
	res.Params["elapsed_s"] = elapsed
	res.Params["send_s"] = sent.Seconds()
	res.OK = ok
	var notes []string
	if writeErr != nil {
		notes = append(notes, writeErr.Error())
	}
	if stalled {
		notes = append(notes, "stalled: no line completed for 2 s with the window full")
	}
	if next == limit {
		notes = append(notes, fmt.Sprintf("stopped at -max-lines (%d)", cfg.maxLines))
	}
	if completed < int64(n) {
		notes = append(notes, fmt.Sprintf("%d of %d lines did not reach every viewer", int64(n)-completed, n))
	}
	if wall > 0 && others.Seconds()/wall > 0.1 {
		notes = append(notes, fmt.Sprintf("other processes used %.2f cores meanwhile", others.Seconds()/wall))
	}
	res.Note = strings.Join(notes, "; ")
	return res, n, nil
}

// rateName names a step's rate: lines a second, or max.
func rateName(rate float64) string {
	if rate <= 0 {
		return "max"
	}
	return load.FormatValue(rate)
}

// tpCounters are the viewers' counts of what went wrong, summed.
type tpCounters struct{ skipped, lost, dup, behindFrames, serverSkip, gaps, invalid, gone int64 }

func (r *tpRun) counters() tpCounters {
	var c tpCounters
	for _, v := range r.viewers {
		c.skipped += v.skipped.Load()
		c.lost += v.lost.Load()
		c.dup += v.dup.Load()
		c.behindFrames += v.behindFrames.Load()
		c.serverSkip += v.serverSkip.Load()
		c.gaps += v.gaps.Load()
		c.invalid += v.invalid.Load()
		if v.gone.Load() {
			c.gone++
		}
	}
	return c
}

// sampleRSS reads pid's RSS every interval until the returned function
// is called, which returns the highest reading.
func sampleRSS(pid int, interval time.Duration) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	read := func() {
		if v, err := procfs.RSS(pid); err == nil && v > peak.Load() {
			peak.Store(v)
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		read()
		return peak.Load()
	}
}

// pct returns the p-th percentile (nearest rank) of sorted µs values, in
// ms.
func pct(sorted []int32, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1000
}
