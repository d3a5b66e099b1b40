package load

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// FanoutConfig sets up a fanout run.
type FanoutConfig struct {
	Target
	Subs    int           // subscribers (default 1000)
	Msgs    int           // messages published (default 2000)
	Window  int           // messages in flight at most (default 64)
	Size    int           // message size in bytes (default 64)
	Timeout time.Duration // whole run, connecting included (default 120s)
	// Stall ends the send phase early when no message has been delivered to
	// every subscriber for this long (0: only Timeout ends it).
	Stall time.Duration
}

func (c *FanoutConfig) defaults() {
	c.Subs = cmp0(c.Subs, 1000)
	c.Msgs = cmp0(c.Msgs, 2000)
	c.Window = cmp0(c.Window, 64)
	c.Size = cmp0(c.Size, 64)
	if c.Timeout <= 0 {
		c.Timeout = 120 * time.Second
	}
}

func cmp0(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// subscriber is one receiving connection; its fields belong to its reader
// goroutine until that goroutine has ended.
type subscriber struct {
	conn      *websocket.Conn
	seen      []uint64 // bit per sequence number
	maxSeq    int
	delivered int
	dup       int
	ooo       int
	invalid   int
	nonText   int     // frames that were not text frames
	lat       []int64 // ns, one per delivery
	ready     bool
	died      bool
}

func (s *subscriber) has(seq int) bool { return s.seen[seq>>6]&(1<<(seq&63)) != 0 }

// fanout is the shared state of one run.
type fanout struct {
	cfg    FanoutConfig
	base   time.Time
	subs   []*subscriber
	counts []atomic.Int32 // per message: subscribers that have it (or died without it)
	slots  chan struct{}  // window: one token per message in flight
	ready  atomic.Int32   // subscribers that have seen a warm-up message

	completed atomic.Int64 // messages every subscriber has
	lastDone  atomic.Int64 // ns since base of the last completion
	allDone   chan struct{}
	stopping  atomic.Bool

	mu   sync.Mutex // guards sent and dead
	sent int        // messages registered so far (0..sent-1)
	dead int        // subscribers whose connection ended during the run
}

func (f *fanout) now() time.Duration { return time.Since(f.base) }

// complete is called once per message, by whoever brings its count to Subs.
func (f *fanout) complete() {
	<-f.slots
	f.lastDone.Store(int64(f.now()))
	if f.completed.Add(1) == int64(f.cfg.Msgs) {
		close(f.allDone)
	}
}

// count records one delivery (real or on behalf of a dead subscriber).
func (f *fanout) count(seq int) {
	if f.counts[seq].Add(1) == int32(f.cfg.Subs) {
		f.complete()
	}
}

// register makes seq known before it is written; subscribers already dead
// count as having it.
func (f *fanout) register(seq int) {
	f.mu.Lock()
	f.counts[seq].Store(int32(f.dead))
	f.sent = seq + 1
	dead := f.dead
	f.mu.Unlock()
	if dead >= f.cfg.Subs {
		f.complete()
	}
}

// died accounts for a subscriber whose connection ended mid-run: every
// message it has not got so far stops waiting for it.
func (f *fanout) died(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead++
	s.died = true
	for seq := 0; seq < f.sent; seq++ {
		if !s.has(seq) {
			f.count(seq)
		}
	}
}

func (f *fanout) read(s *subscriber, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 256)
	for {
		n, typ, err := readInto(s.conn, buf)
		if err != nil {
			if !f.stopping.Load() {
				f.died(s)
			}
			return
		}
		at := f.now()
		if typ != websocket.TextMessage {
			// The protocol broadcasts text frames. The message is still
			// counted below, so that the run goes on and reports how many.
			s.nonText++
		}
		kind, seq, ts, ok := parseMsg(buf[:min(n, len(buf))])
		switch {
		case ok && kind == 'w':
			if !s.ready {
				s.ready = true
				f.ready.Add(1)
			}
			continue
		case !ok || kind != 'm' || seq < 0 || seq >= f.cfg.Msgs:
			s.invalid++
			continue
		}
		if s.has(seq) {
			s.dup++
			continue
		}
		s.seen[seq>>6] |= 1 << (seq & 63)
		if seq < s.maxSeq {
			s.ooo++
		} else {
			s.maxSeq = seq
		}
		s.delivered++
		s.lat = append(s.lat, int64(at-ts))
		f.count(seq)
	}
}

// Fanout runs the fanout scenario: Subs subscribers and one publisher on
// /broadcast; the publisher sends Msgs messages, at most Window of them not
// yet received by every subscriber. Deliveries, latencies and loss are
// counted at the subscribers only (the publisher's own copies are read and
// discarded). Every frame must be a text frame, the publisher's copies and
// the warm-up included: any other counts in non_text and fails the run.
func Fanout(ctx context.Context, cfg FanoutConfig) (*Result, error) {
	cfg.defaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	res := &Result{Scenario: "fanout", Params: map[string]any{
		"subs": cfg.Subs, "msgs": cfg.Msgs, "window": cfg.Window, "size": cfg.Size,
		"counted_at": "subscribers",
	}}

	conns, failed, err := cfg.dialAll(ctx, "/broadcast", cfg.Subs)
	if err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("fanout: %d of %d subscribers failed to connect: %w", failed, cfg.Subs, err)
	}
	pub, err := cfg.dial(ctx, "/broadcast")
	if err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("fanout: publisher: %w", err)
	}
	defer pub.Close()
	pub.SetWriteDeadline(deadline)

	f := &fanout{
		cfg:     cfg,
		base:    time.Now(),
		counts:  make([]atomic.Int32, cfg.Msgs),
		slots:   make(chan struct{}, cfg.Window),
		allDone: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		s := &subscriber{conn: c, seen: make([]uint64, (cfg.Msgs+63)/64), maxSeq: -1, lat: make([]int64, 0, cfg.Msgs)}
		f.subs = append(f.subs, s)
		wg.Add(1)
		go f.read(s, &wg)
	}
	var pubReceived, pubNonText atomic.Int64
	pubDone := make(chan struct{})
	go func() { // the publisher gets every broadcast too: drain it
		defer close(pubDone)
		buf := make([]byte, 256)
		for {
			_, typ, err := readInto(pub, buf)
			if err != nil {
				return
			}
			pubReceived.Add(1)
			if typ != websocket.TextMessage {
				pubNonText.Add(1)
			}
		}
	}()
	stop := func() {
		f.stopping.Store(true)
		closeAll(conns)
		pub.Close()
		wg.Wait()
		<-pubDone
	}

	// Warm-up: hubs may register a connection after its handshake has
	// finished, so send throw-away messages until every subscriber has one.
	msg := make([]byte, 0, cfg.Size+64)
	warm := time.NewTicker(20 * time.Millisecond)
	for k := 0; f.ready.Load() < int32(cfg.Subs); k++ {
		msg = appendMsg(msg[:0], 'w', k, f.now(), cfg.Size)
		if err := pub.WriteMessage(websocket.TextMessage, msg); err != nil {
			warm.Stop()
			stop()
			return nil, fmt.Errorf("fanout: warm-up: %w", err)
		}
		select {
		case <-warm.C:
		case <-ctx.Done():
			warm.Stop()
			stop()
			return nil, fmt.Errorf("fanout: warm-up: only %d of %d subscribers got a message: %w", f.ready.Load(), cfg.Subs, ctx.Err())
		}
	}
	warm.Stop()

	cpu := startCPU(cfg.PID)
	start := f.now()
	f.lastDone.Store(int64(start))
	stall := time.NewTicker(100 * time.Millisecond)
	defer stall.Stop()
	var why string // non-empty when the send phase ended early
	stalled := func() bool {
		if cfg.Stall > 0 && f.now()-time.Duration(f.lastDone.Load()) > cfg.Stall {
			why = fmt.Sprintf("stalled: nothing completed for %v", cfg.Stall)
			return true
		}
		return false
	}
	published := 0
send:
	for seq := 0; seq < cfg.Msgs; seq++ {
		for acquired := false; !acquired; {
			select {
			case f.slots <- struct{}{}:
				acquired = true
			case <-ctx.Done():
				why = "timeout"
				break send
			case <-stall.C:
				if stalled() {
					break send
				}
			}
		}
		f.register(seq)
		msg = appendMsg(msg[:0], 'm', seq, f.now(), cfg.Size)
		if err := pub.WriteMessage(websocket.TextMessage, msg); err != nil {
			why = "publish: " + err.Error()
			break
		}
		published++
	}
	if why == "" {
	wait:
		for {
			select {
			case <-f.allDone:
				break wait
			case <-ctx.Done():
				why = "timeout"
				break wait
			case <-stall.C:
				if stalled() {
					break wait
				}
			}
		}
	}
	end := f.now()
	if why == "" {
		end = time.Duration(f.lastDone.Load())
	}
	serverCPU, irqCPU, cpuOK := cpu.stop(res)
	stop()

	// Everything below reads subscriber state after the readers ended.
	var delivered, dup, ooo, invalid, nonText, died int
	var lat []int64
	for _, s := range f.subs {
		delivered += s.delivered
		dup += s.dup
		ooo += s.ooo
		invalid += s.invalid
		nonText += s.nonText
		if s.died {
			died++
		}
		lat = append(lat, s.lat...)
	}
	slices.Sort(lat)
	expected := cfg.Subs * published
	lost := expected - delivered
	elapsed := (end - start).Seconds()
	res.add("deliveries_per_s", float64(delivered)/elapsed, "")
	res.add("p50_ms", float64(percentile(lat, 50))/1e6, "")
	res.add("p99_ms", float64(percentile(lat, 99))/1e6, "")
	res.add("lost", float64(lost), "")
	res.add("dup", float64(dup), "")
	res.add("ooo", float64(ooo), "")
	if cpuOK && delivered > 0 {
		res.add("cpu_us_per_delivery", float64(serverCPU)/float64(time.Microsecond)/float64(delivered), "")
		// Loopback receive work runs in softirq; it grows with the number
		// of packets, which the server decides. Without IRQ time
		// accounting (this kernel) the ticks that land in softirq are also
		// in the stime of the task they interrupted, the server's among
		// them: this overlaps cpu_us_per_delivery and is not to be added.
		res.add("softirq_us_per_delivery", float64(irqCPU)/float64(time.Microsecond)/float64(delivered), "")
	}
	res.add("dropped_subs", float64(died), "")
	// Every frame on /broadcast must be a text frame, the publisher's own
	// copies included.
	nonText += int(pubNonText.Load())
	res.add("non_text", float64(nonText), "")
	res.Params["published"] = published
	res.Params["delivered"] = delivered
	res.Params["elapsed_s"] = elapsed
	res.Params["publisher_received"] = pubReceived.Load()
	if invalid > 0 {
		res.add("invalid", float64(invalid), "")
	}
	res.OK = why == "" && lost == 0 && dup == 0 && ooo == 0 && invalid == 0 && nonText == 0 && died == 0
	if why != "" {
		res.note("%s after %d of %d messages published", why, published, cfg.Msgs)
	}
	if died > 0 {
		res.note("%d subscribers disconnected", died)
	}
	if nonText > 0 {
		res.note("%d frames were not text frames", nonText)
	}
	return res, nil
}
