// Command logbench measures the log viewer (examples/logstream): how many
// lines a second go from a file to 100 viewers with filters, the delay
// each viewer sees from the line's write to its socket, and the server's
// memory while viewers that never read are connected.
//
// Usage (from bench/):
//
//	go run ./cmd/logbench [-scenarios "throughput memory"] [-rounds 3] [-logstream BINARY]
//
// It builds the viewer once (or runs -logstream), and for each run starts
// a fresh process of it, unchanged, on an ephemeral port of 127.0.0.1,
// following one file in a temporary directory that this command writes;
// SIGTERM stops it. Viewers connect from several loopback addresses
// (127.0.0.2, 127.0.0.3 …, at most -per-addr each): the viewer takes 32
// sockets from one address.
//
// throughput: -viewers (100) stream sockets with backfill=0, the first
// -filtered (90) dealt over ten filters (substrings, levels, regular
// expressions, both; each passes from 2% to all of the lines), the others
// without a filter. Once every viewer has a line (each is live in its
// filter's group), one step of -step (5 s) per rate of -rates, in order
// (lines a second; 0 writes as fast as the window allows). The benchmark
// writes the lines, of -size bytes, "LEVEL SEQ:NANOS:STEP: tagNN xxx…",
// a few per write, never more than -window of them in flight (written,
// and not yet received by every viewer whose filter passes them). Each
// viewer's reader checks that it gets exactly the lines its filter
// passes, in order, and takes each line's delay from the write (NANOS,
// one process, one monotonic clock) to its receipt. Per step: lines a
// second that reached every viewer that should have them, deliveries a
// second, p50/p99/max delay, lines lost or announced skipped ("behind"),
// viewers disconnected, the CPU of the server and of this process, the
// server's peak RSS. A step ends -drain after its last write at most, or
// after 2 s without progress.
//
// memory: -mem-viewers (10) sockets that never read, each with a filter
// of its own that every line passes (so each is a group of its own, and
// every group publishes every line), and one probe without a filter that
// reads. Lines of -mem-line (64 KiB) bytes are written as fast as the
// probe gets them (at most -mem-window lines ahead of it) for -mem-time
// (10 s). The server closes a socket whose queue is full; the benchmark
// connects a non-reader again when the server logs that it closed it, so
// that -mem-viewers of them are connected at all times (with
// -mem-reconnect=false, they connect once, together, and are gone once
// closed), and the probe again with since= its last line, as the page
// does. It reports the server's RSS (before, median and peak of a reading
// every 50 ms, the peak of each 5 s, and 2 s after the writing stopped),
// the probe's lines a second and delays, and how often the probe and the
// non-readers were disconnected.
//
// -label names the build in the results (the server of cmd/report's
// table), so that runs of two builds, alternated, compare side by side.
// Client and server share the machine's cores: the figures are of the
// pair.
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
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/child"
	"github.com/macaron-contrib/sockets/bench/internal/load"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

// config is the runs' setup, from the flags.
type config struct {
	bin      string
	label    string // names the binary in the results
	viewers  int
	filtered int
	size     int
	rates    []float64
	step     time.Duration
	drain    time.Duration
	window   int
	maxLines int
	perAddr  int

	memViewers   int
	memLine      int
	memTime      time.Duration
	memWindow    int
	memReconnect bool
}

func main() {
	var (
		bin        = flag.String("logstream", "", "logstream binary to run (default: build examples/logstream)")
		label      = flag.String("label", "logstream", "name of the binary in the results (cmd/report's server column)")
		scenarios  = flag.String("scenarios", "throughput memory", "scenarios to run, in order, each once per round")
		rounds     = flag.Int("rounds", 3, "rounds")
		viewers    = flag.Int("viewers", 100, "throughput: stream sockets")
		filtered   = flag.Int("filtered", 90, "throughput: how many of them have a filter (dealt over the ten filters)")
		size       = flag.Int("size", 200, "throughput: line size in bytes, newline included")
		rates      = flag.String("rates", "1000 5000 0", "throughput: lines a second, one step each, in order (0: as fast as the window allows)")
		step       = flag.Duration("step", 5*time.Second, "throughput: how long each step writes")
		drain      = flag.Duration("drain", 10*time.Second, "throughput: wait after a step's last write for every line at most (and 2 s without progress)")
		window     = flag.Int("window", 1000, "throughput: lines in flight at most")
		maxLines   = flag.Int("max-lines", 2_000_000, "throughput: lines written in a run at most, warm-up aside")
		perAddr    = flag.Int("per-addr", 32, "sockets per loopback source address at most (the viewer takes 32 from one address)")
		memViewers = flag.Int("mem-viewers", 10, "memory: viewers that never read, each with a filter of its own")
		memLine    = flag.Int("mem-line", 64<<10, "memory: line size in bytes")
		memTime    = flag.Duration("mem-time", 10*time.Second, "memory: how long lines are written")
		memWindow  = flag.Int("mem-window", 32, "memory: lines written ahead of the probe at most")
		memAgain   = flag.Bool("mem-reconnect", true, "memory: connect a non-reader again once the server closed it")
		jsonOnly   = flag.Bool("json", false, "print only the JSON result lines")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("logbench: ")
	if _, err := serve.RaiseFileLimit(); err != nil {
		log.Printf("cannot raise RLIMIT_NOFILE: %v", err)
	}
	cfg := config{label: *label, viewers: *viewers, filtered: min(*filtered, *viewers), size: *size, step: *step, drain: *drain,
		window: *window, maxLines: *maxLines, perAddr: *perAddr,
		memViewers: *memViewers, memLine: *memLine, memTime: *memTime, memWindow: *memWindow, memReconnect: *memAgain}
	for _, f := range strings.Fields(*rates) {
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r < 0 {
			log.Fatalf("-rates: %q is not a rate (0 or more)", f)
		}
		cfg.rates = append(cfg.rates, r)
	}
	names := strings.Fields(*scenarios)
	for _, n := range names {
		if n != "throughput" && n != "memory" {
			log.Fatalf("-scenarios: unknown scenario %q (throughput, memory)", n)
		}
	}
	switch {
	case len(names) == 0 || len(cfg.rates) == 0:
		log.Fatal("-scenarios and -rates must not be empty")
	case cfg.viewers < 1 || cfg.window < 1 || cfg.maxLines < 1 || cfg.perAddr < 1 || *rounds < 1:
		log.Fatal("-viewers, -window, -max-lines, -per-addr and -rounds must be at least 1")
	case cfg.size < 64 || cfg.memLine < 128:
		log.Fatal("-size must be at least 64, -mem-line at least 128")
	case cfg.memViewers < 1 || cfg.memWindow < 1 || cfg.memTime <= 0:
		log.Fatal("-mem-viewers, -mem-window and -mem-time must be positive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.bin = *bin
	binDir := ""
	if cfg.bin == "" {
		var err error
		if binDir, err = os.MkdirTemp("", "logbench-bin-"); err != nil {
			log.Fatal(err)
		}
		if cfg.bin, err = child.Build(binDir, "./logstream"); err != nil {
			os.RemoveAll(binDir)
			log.Fatal(err)
		}
	}

	var all []*load.Result
	failed := false
	for round := 1; round <= *rounds && ctx.Err() == nil; round++ {
		for _, name := range names {
			var res []*load.Result
			var err error
			if name == "throughput" {
				res, err = throughput(ctx, cfg)
			} else {
				var r *load.Result
				if r, err = memory(ctx, cfg); r != nil {
					res = append(res, r)
				}
			}
			load.PrintRound(os.Stdout, res, round, *jsonOnly)
			all = append(all, res...)
			if err != nil {
				log.Printf("%s, round %d: %v", name, round, err)
				failed = true
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if !*jsonOnly {
		summary(os.Stdout, all)
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if failed || ctx.Err() != nil {
		stop()
		os.Exit(1)
	}
}

// summary prints the medians over the rounds: per rate for throughput,
// and for memory.
func summary(w io.Writer, all []*load.Result) {
	get := func(r *load.Result, name string) float64 { v, _ := r.Get(name); return v }
	med := func(rs []*load.Result, name string) string {
		var v []float64
		for _, r := range rs {
			v = append(v, get(r, name))
		}
		slices.Sort(v)
		return load.FormatValue(v[len(v)/2])
	}
	oks := func(rs []*load.Result) int {
		n := 0
		for _, r := range rs {
			if r.OK {
				n++
			}
		}
		return n
	}
	var rates []float64
	byRate := map[float64][]*load.Result{}
	var mem []*load.Result
	for _, r := range all {
		switch {
		case strings.HasPrefix(r.Scenario, "throughput@"):
			rate := r.Params["rate"].(float64)
			if byRate[rate] == nil {
				rates = append(rates, rate)
			}
			byRate[rate] = append(byRate[rate], r)
		case r.Scenario == "memory":
			mem = append(mem, r)
		}
	}
	if len(rates) > 0 {
		fmt.Fprintln(w, "\nthroughput, medians over the rounds:")
		fmt.Fprintln(w, "| offered lines/s | lines/s | deliveries/s | p50 ms | p99 ms | max ms | server cores | client cores | ok |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, rate := range rates {
			rs := byRate[rate]
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %d of %d |\n", rateName(rate), med(rs, "lines_per_s"),
				med(rs, "deliveries_per_s"), med(rs, "p50_ms"), med(rs, "p99_ms"), med(rs, "max_ms"),
				med(rs, "server_cores"), med(rs, "client_cores"), oks(rs), len(rs))
		}
	}
	if len(mem) > 0 {
		fmt.Fprintln(w, "\nmemory, medians over the rounds:")
		fmt.Fprintln(w, "| RSS before MB | median MB | peak MB | 2 s after MB | probe lines/s | probe MB/s | reconnects | ok |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d of %d |\n", med(mem, "rss_before_mb"), med(mem, "rss_median_mb"),
			med(mem, "rss_peak_mb"), med(mem, "rss_after_mb"), med(mem, "probe_lines_per_s"), med(mem, "probe_mb_per_s"),
			med(mem, "non_reader_reconnects"), oks(mem), len(mem))
	}
}
