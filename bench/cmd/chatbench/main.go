// Command chatbench measures the chat example (examples/chat) with one room
// of many members, on one instance and on several: messages per second
// delivered to every member, and the latency from a member's send to each
// other member's receipt (p50, p99).
//
// Usage (from bench/):
//
//	go run ./cmd/chatbench [-instances "1 2"] [-members 500] [-rates "500 1000 1400 1600 1800 2000"] [-step 5s] [-rounds 3]
//
// It builds the chat binary once (or runs -chat), and for each run starts
// fresh chat processes, unchanged, on ephemeral ports of 127.0.0.1: the
// first with its embedded NATS server storing in a temporary directory
// (-data) and, when there are others, listening on 127.0.0.1 for them
// (-nats-listen); the others with -nats. Every instance has -debug-addr,
// whose /metrics counters say whether the chat refused a message over its
// rate, dropped or disconnected a slow member, or failed to store a
// message; they are read before and after each step. SIGTERM stops the
// processes at the end.
//
// The members join one room, dealt round-robin over the instances. The chat
// accepts at most 32 connections from one client address, so members
// connect from several loopback addresses (127.0.0.2, 127.0.0.3 ..., at
// most -per-addr each). Once every member knows every other one (its
// members frame and the "joined" statuses), a warm-up step runs at the
// first rate, then one step per rate of -rates, in order: for -step,
// messages are sent at that rate, each by the next member round-robin, so
// each member sends one every members/rate seconds, under the chat's limit
// of 10 a second with bursts of 40 (which no flag changes, and none needs
// to). Each message carries its sequence number and its send time; the
// other members' readers (same process, one monotonic clock) count it and
// take its latency. A step ends when every message has reached every other
// member, or -drain after its last send, or after 2 s without any
// delivery. The run stops after the first step that lost, refused or
// duplicated anything, or lost a member.
//
// Client and servers share the machine's cores: the figures are of the
// whole, and each step reports the cores the chat processes, this one and
// every other process used.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/load"
	"github.com/macaron-contrib/sockets/bench/internal/procfs"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

// config is one run's setup, from the flags.
type config struct {
	bin         string
	chatFlags   []string // more flags for every instance
	instances   int
	members     int
	rates       []float64
	step        time.Duration
	warmup      time.Duration
	drain       time.Duration
	size        int
	perAddr     int
	joinConc    int
	joinTimeout time.Duration
	room        string
}

func main() {
	var (
		chat      = flag.String("chat", "", "chat binary to run (default: build examples/chat)")
		instances = flag.String("instances", "1 2", "numbers of instances to measure, in order, each once per round")
		members   = flag.Int("members", 500, "members of the room, dealt round-robin over the instances")
		rates     = flag.String("rates", "500 1000 1400 1600 1800 2000", "offered rates, messages per second, one step each, in order")
		step      = flag.Duration("step", 5*time.Second, "how long each rate is offered")
		warmup    = flag.Duration("warmup", time.Second, "warm-up step at the first rate, not reported")
		drain     = flag.Duration("drain", 10*time.Second, "wait after a step's last send for every delivery at most (and 2 s without any delivery)")
		size      = flag.Int("size", 64, "message text size in bytes")
		rounds    = flag.Int("rounds", 3, "rounds (each number of instances once per round)")
		perAddr   = flag.Int("per-addr", 32, "members per loopback source address at most (the chat takes 32 per client address)")
		joinConc  = flag.Int("join-concurrency", 16, "members joining at once at most")
		jsonOnly  = flag.Bool("json", false, "print only the JSON result lines")
		chatFlags = flag.String("chat-flags", "", "more flags for every chat instance, space-separated (e.g. \"-history 1000\")")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("chatbench: ")
	if _, err := serve.RaiseFileLimit(); err != nil {
		log.Printf("cannot raise RLIMIT_NOFILE: %v", err)
	}
	cfg := config{members: *members, step: *step, warmup: *warmup, drain: *drain, size: *size,
		perAddr: *perAddr, joinConc: *joinConc, joinTimeout: 90 * time.Second, room: "bench",
		chatFlags: strings.Fields(*chatFlags)}
	var counts []int
	for _, f := range strings.Fields(*instances) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			log.Fatalf("-instances: %q is not a positive number", f)
		}
		counts = append(counts, n)
	}
	for _, f := range strings.Fields(*rates) {
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			log.Fatalf("-rates: %q is not a positive number", f)
		}
		cfg.rates = append(cfg.rates, r)
	}
	switch {
	case len(counts) == 0 || len(cfg.rates) == 0:
		log.Fatal("-instances and -rates must not be empty")
	case cfg.members < 2 || cfg.perAddr < 1 || cfg.joinConc < 1 || *rounds < 1 || cfg.size < 24:
		log.Fatal("-members must be at least 2, -size at least 24, -per-addr, -join-concurrency and -rounds at least 1")
	case 2+(cfg.members-1)/cfg.perAddr > 1<<24-2:
		log.Fatal("too few loopback addresses for -members at -per-addr")
	}
	// Each member sends one message every members/rate seconds: under the
	// chat's 10 per second with bursts of 40, nothing is refused.
	if maxRate := slices.Max(cfg.rates); maxRate/float64(cfg.members) > 8 {
		log.Fatalf("-rates: %v messages/s over %d members is over 8 a member: the chat refuses past 10 a second", maxRate, cfg.members)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.bin = *chat
	binDir := ""
	if cfg.bin == "" {
		var err error
		if binDir, err = os.MkdirTemp("", "chatbench-bin-"); err != nil {
			log.Fatal(err)
		}
		if cfg.bin, err = buildChat(binDir); err != nil {
			os.RemoveAll(binDir)
			log.Fatal(err)
		}
	}

	var all []*load.Result
	failed := false
	for r := 1; r <= *rounds && ctx.Err() == nil; r++ {
		for _, n := range counts {
			c := cfg
			c.instances = n
			res, err := run(ctx, c)
			load.PrintRound(os.Stdout, res, r, *jsonOnly)
			all = append(all, res...)
			if err != nil {
				log.Printf("%d instance(s), round %d: %v", n, r, err)
				failed = true
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if !*jsonOnly {
		summary(os.Stdout, all, cfg)
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if failed || ctx.Err() != nil {
		stop()
		os.Exit(1)
	}
}

// run measures one number of instances: it starts them, joins the
// members, runs the warm-up and the steps, and stops everything. It
// returns the results of the steps it ran, even with an error.
func run(ctx context.Context, cfg config) (results []*load.Result, err error) {
	dir, err := os.MkdirTemp("", "chatbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	var ins []*instance
	defer func() {
		for _, in := range ins {
			if serr := in.Stop(); serr != nil && err == nil {
				err = fmt.Errorf("chat on %s: %v\n%s", in.addr, serr, in.LogTail())
			}
		}
	}()
	args := []string{"-data", dir}
	natsURL := ""
	if cfg.instances > 1 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args = append(args, "-nats-listen", fmt.Sprintf("127.0.0.1:%d", port))
		natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	}
	for i := 0; i < cfg.instances; i++ {
		if i == 1 {
			args = []string{"-nats", natsURL}
		}
		in, err := startChat(cfg.bin, append(slices.Clip(args), cfg.chatFlags...)...)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i+1, err)
		}
		ins = append(ins, in)
	}
	var urls []string
	for _, in := range ins {
		urls = append(urls, "ws://"+in.addr)
	}

	r := plan(cfg)
	defer r.close()
	joinStart := time.Now()
	jctx, cancel := context.WithTimeout(ctx, cfg.joinTimeout)
	defer cancel()
	if err := r.join(jctx, urls, cfg.room, cfg.perAddr, cfg.joinConc); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	connected := time.Since(joinStart)
	if err := r.waitKnown(jctx); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	r.settled.Store(true)
	joined := time.Since(joinStart)

	for i, s := range r.steps {
		res, err := r.measure(ctx, ins, s, cfg)
		if err != nil {
			return results, err
		}
		res.Server = fmt.Sprintf("instances=%d", cfg.instances)
		res.Params["instances"] = cfg.instances
		res.Params["connect_s"] = connected.Seconds()
		res.Params["join_s"] = joined.Seconds()
		if i == 0 {
			if !res.OK {
				return results, fmt.Errorf("warm-up failed: %s", res.Human())
			}
			continue
		}
		results = append(results, res)
		if !res.OK || i == len(r.steps)-1 {
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

// plan makes the run's room: its members and its steps (the warm-up
// first), with room for every message.
func plan(cfg config) *room {
	r := &room{base: time.Now()}
	add := func(rate float64, d time.Duration) {
		n := max(20, int(rate*d.Seconds()))
		lo := 0
		if len(r.steps) > 0 {
			lo = r.steps[len(r.steps)-1].hi
		}
		r.steps = append(r.steps, &step{rate: rate, lo: lo, hi: lo + n})
	}
	add(cfg.rates[0], cfg.warmup)
	for _, rate := range cfg.rates {
		add(rate, cfg.step)
	}
	total := r.steps[len(r.steps)-1].hi
	r.counts = make([]atomic.Int32, total)
	r.stepOf = make([]uint8, total)
	for i, s := range r.steps {
		for seq := s.lo; seq < s.hi; seq++ {
			r.stepOf[seq] = uint8(i)
		}
	}
	for i := range cfg.members {
		r.members = append(r.members, &member{index: i, name: fmt.Sprintf("m%04d", i),
			seen: make([]uint64, (total+63)/64), lat: make([][]int32, len(r.steps))})
	}
	return r
}

// waitKnown waits until every member has joined and knows every other
// one: the joins' statuses are over before anything is measured.
func (r *room) waitKnown(ctx context.Context) error {
	for {
		joined, knowAll := 0, 0
		for _, m := range r.members {
			if m.gone.Load() {
				return fmt.Errorf("member %s disconnected while joining", m.name)
			}
			if m.joined.Load() {
				joined++
			}
			if int(m.known.Load()) == len(r.members) {
				knowAll++
			}
		}
		if knowAll == len(r.members) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d members joined, %d know every member: %w", joined, len(r.members), knowAll, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// counters are the members' counts of what went wrong, summed.
type counters struct{ dup, echo, invalid, errs, left, gone int64 }

func (r *room) counters() counters {
	var c counters
	for _, m := range r.members {
		c.dup += m.dup.Load()
		c.echo += m.echo.Load()
		c.invalid += m.invalid.Load()
		c.errs += m.errs.Load()
		c.left += m.left.Load()
		if m.gone.Load() {
			c.gone++
		}
	}
	return c
}

// measure runs step s and reports it.
func (r *room) measure(ctx context.Context, ins []*instance, s *step, cfg config) (*load.Result, error) {
	res := &load.Result{Scenario: "chat", Params: map[string]any{
		"members": len(r.members), "rate": s.rate, "size": cfg.size,
		"step_s": cfg.step.Seconds(), "per_addr": cfg.perAddr,
	}}
	before, err := scrape(ctx, ins)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	c0 := r.counters()
	cpu0, self0 := cpuTimes(ins)
	tasks0, tasksErr := procfs.Tasks("/proc")
	start := r.now()

	n, sendLen, lag, sendErr := r.send(ctx, s, cfg.size)
	expected := int64(n) * int64(len(r.members)-1)
	res.Params["msgs"] = n
	// Wait for every delivery, at most -drain after the last send, and
	// no longer than 2 s without any delivery.
	load.WaitDrain(ctx, int64(n), s.completed.Load, s.deliveries.Load, cfg.drain, 2*time.Second)
	waited := r.now()
	cpu1, self1 := cpuTimes(ins)
	tasks1, tasksErr1 := procfs.Tasks("/proc")
	after, err := scrape(ctx, ins)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	c1 := r.counters()

	completed, deliveries := s.completed.Load(), s.deliveries.Load()
	// The rates are over the time from the step's first send to the last
	// message that reached every other member, also when some never did
	// (the wait for them is not counted).
	end := waited
	if completed > 0 {
		end = time.Duration(s.lastDone.Load())
	}
	elapsed := (end - start).Seconds()
	var lat []int32
	for _, m := range r.members {
		m.mu.Lock()
		lat = append(lat, m.lat[r.stepOf[s.lo]]...)
		m.mu.Unlock()
	}
	slices.Sort(lat)
	wall := (waited - start).Seconds()
	add := func(name string, v float64) { res.Metrics = append(res.Metrics, load.Metric{Name: name, Value: v}) }
	add("offered_per_s", float64(n)/sendLen.Seconds())
	add("delivered_msgs_per_s", float64(completed)/elapsed)
	add("deliveries_per_s", float64(deliveries)/elapsed)
	add("p50_ms", pct(lat, 50))
	add("p99_ms", pct(lat, 99))
	add("max_ms", pct(lat, 100))
	add("lost", float64(expected-deliveries))
	d := func(name string) float64 { return after[name] - before[name] }
	problems := []struct {
		name string
		v    float64
	}{
		{"dup", float64(c1.dup - c0.dup)},
		{"echo", float64(c1.echo - c0.echo)},
		{"invalid", float64(c1.invalid - c0.invalid)},
		{"error_frames", float64(c1.errs - c0.errs)},
		{"left", float64(c1.left - c0.left)},
		{"members_gone", float64(c1.gone - c0.gone)},
		{"rate_limited", d("sockets_messages_rate_limited_total")},
		{"slow_disconnects", d("sockets_hub_slow_disconnects_total")},
		{"hub_dropped", d("sockets_hub_messages_dropped_total")},
		{"store_errors", d("sockets_hub_store_errors_total")},
		{"history_gaps", d("sockets_hub_history_gaps_total")},
		{"refused", d("sockets_upgrades_refused_total")},
	}
	ok := completed == int64(n) && deliveries == expected && sendErr == nil
	for _, p := range problems {
		add(p.name, p.v)
		if p.v != 0 {
			ok = false
		}
	}
	if wall > 0 {
		add("server_cores", (cpu1-cpu0).Seconds()/wall)
		add("client_cores", (self1-self0).Seconds()/wall)
	}
	var others time.Duration
	if tasksErr == nil && tasksErr1 == nil && wall > 0 {
		// What every other process used meanwhile: the machine is
		// meant to be quiet.
		pids := []int{os.Getpid()}
		for _, in := range ins {
			pids = append(pids, in.Pid())
		}
		var kthreads time.Duration
		others, kthreads = procfs.OthersCPU(tasks0, tasks1, pids...)
		add("others_cores", others.Seconds()/wall)
		add("kthread_cores", kthreads.Seconds()/wall)
	}
	add("pacer_lag_ms", float64(lag)/float64(time.Millisecond))
	res.Params["completed"] = completed
	// The messages that did not reach every member, and how many members
	// missed each (all of one instance's, say).
	incomplete, missMin, missMax := 0, 0, 0
	for seq := s.lo; seq < s.lo+n; seq++ {
		if miss := len(r.members) - 1 - int(r.counts[seq].Load()); miss > 0 {
			if incomplete == 0 || miss < missMin {
				missMin = miss
			}
			missMax = max(missMax, miss)
			incomplete++
		}
	}
	res.Params["incomplete"] = incomplete
	if incomplete > 0 {
		res.Params["missed_by_min"], res.Params["missed_by_max"] = missMin, missMax
	}
	res.Params["deliveries"] = deliveries
	res.Params["hub_deliveries"] = d("sockets_hub_deliveries_total")
	res.Params["elapsed_s"] = elapsed
	res.Params["send_s"] = sendLen.Seconds()
	res.OK = ok
	var notes []string
	if sendErr != nil {
		notes = append(notes, "send: "+sendErr.Error())
	}
	if completed < int64(n) {
		notes = append(notes, fmt.Sprintf("%d of %d messages did not reach every member (each missed by %d to %d members)",
			incomplete, n, missMin, missMax))
	}
	for _, m := range r.members {
		m.mu.Lock()
		t := m.errText
		m.mu.Unlock()
		if t != "" {
			notes = append(notes, fmt.Sprintf("error frame to %s: %q", m.name, t))
			break
		}
	}
	if wall > 0 && others.Seconds()/wall > 0.1 {
		notes = append(notes, fmt.Sprintf("other processes used %.2f cores meanwhile", others.Seconds()/wall))
	}
	res.Note = strings.Join(notes, "; ")
	return res, nil
}

// cpuTimes returns the chat processes' CPU time, summed, and this
// process's.
func cpuTimes(ins []*instance) (chat, self time.Duration) {
	for _, in := range ins {
		t, _ := procfs.CPUTime(in.Pid())
		chat += t
	}
	self, _ = procfs.CPUTime(os.Getpid())
	return chat, self
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

// summary prints one table row per step, then the medians over the rounds
// for each number of instances and rate.
func summary(w io.Writer, all []*load.Result, cfg config) {
	get := func(r *load.Result, name string) float64 { v, _ := r.Get(name); return v }
	fmt.Fprintf(w, "\n%d members, messages of %d bytes, %v a rate\n\n", cfg.members, cfg.size, cfg.step)
	fmt.Fprintln(w, "| instances | offered msg/s | round | delivered msgs/s | deliveries/s | p50 ms | p99 ms | max ms | lost | server cores | client cores | ok |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	type key struct {
		instances int
		rate      float64
	}
	var keys []key
	groups := map[key][]*load.Result{}
	for _, r := range all {
		k := key{r.Params["instances"].(int), r.Params["rate"].(float64)}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if a.instances != b.instances {
			return a.instances - b.instances
		}
		return int(a.rate - b.rate)
	})
	for _, k := range keys {
		for _, r := range groups[k] {
			ok := "yes"
			if !r.OK {
				ok = "NO"
				if r.Note != "" {
					ok += " (" + r.Note + ")"
				}
			}
			fmt.Fprintf(w, "| %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k.instances,
				load.FormatValue(get(r, "offered_per_s")), r.Round,
				load.FormatValue(get(r, "delivered_msgs_per_s")), load.FormatValue(get(r, "deliveries_per_s")),
				load.FormatValue(get(r, "p50_ms")), load.FormatValue(get(r, "p99_ms")), load.FormatValue(get(r, "max_ms")),
				load.FormatValue(get(r, "lost")), load.FormatValue(get(r, "server_cores")), load.FormatValue(get(r, "client_cores")), ok)
		}
	}
	fmt.Fprintln(w, "\nmedians over the rounds:")
	for _, k := range keys {
		rs := groups[k]
		med := func(name string) string {
			var v []float64
			for _, r := range rs {
				v = append(v, get(r, name))
			}
			slices.Sort(v)
			return load.FormatValue(v[len(v)/2])
		}
		oks := 0
		for _, r := range rs {
			if r.OK {
				oks++
			}
		}
		fmt.Fprintf(w, "%d instance(s), %v msg/s: delivered %s msgs/s, %s deliveries/s, p50 %s ms, p99 %s ms (%d of %d rounds ok)\n",
			k.instances, k.rate, med("delivered_msgs_per_s"), med("deliveries_per_s"), med("p50_ms"), med("p99_ms"), oks, len(rs))
	}
}
