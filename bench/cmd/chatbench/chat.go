package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/child"
)

// buildChat builds the chat example into dir and returns the binary's
// path.
func buildChat(dir string) (string, error) { return child.Build(dir, "./chat") }

// instance is one chat process.
type instance struct {
	*child.Process
	addr  string // where the chat listens, HOST:PORT
	debug string // where its metrics are, HOST:PORT
}

// startChat runs the chat binary with args (plus -addr and -debug-addr on
// ephemeral ports of 127.0.0.1) and waits for it to listen. NATS_*
// variables are left out of its environment: the chat would take NATS_URL
// as -nats.
func startChat(bin string, args ...string) (*instance, error) {
	in := &instance{}
	cfg := child.Config{
		Bin:  bin,
		Args: append([]string{"-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0"}, args...),
		Env:  []string{},
		// The metrics address is logged before the listening one.
		Ready: func(line string) bool {
			if _, a, ok := strings.Cut(line, "chat: metrics at http://"); ok && in.debug == "" {
				in.debug, _, _ = strings.Cut(a, "/")
			}
			if _, a, ok := strings.Cut(line, "chat: listening on http://"); ok {
				in.addr = strings.TrimSpace(a)
				return true
			}
			return false
		},
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") {
			cfg.Env = append(cfg.Env, kv)
		}
	}
	p, err := child.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	in.Process = p
	if in.debug == "" {
		in.Stop()
		return nil, errors.New("chat: no metrics address in its log")
	}
	return in, nil
}

// freePort returns a port of 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// The chat's counters that say a message was refused or a member lost
// (its -debug-addr /metrics, the library's metrics package).
var watchedMetrics = []string{
	"sockets_messages_rate_limited_total",
	"sockets_hub_slow_disconnects_total",
	"sockets_hub_messages_dropped_total",
	"sockets_hub_store_errors_total",
	"sockets_hub_history_gaps_total",
	"sockets_upgrades_refused_total",
	"sockets_hub_deliveries_total",
}

// scrape reads the watched counters from every instance, summed.
func scrape(ctx context.Context, ins []*instance) (map[string]float64, error) {
	sum := map[string]float64{}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, in := range ins {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.debug+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			name, rest, _ := strings.Cut(line, " ")
			name, _, _ = strings.Cut(name, "{")
			for _, w := range watchedMetrics {
				if name == w {
					fields := strings.Fields(rest)
					if len(fields) > 0 {
						if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
							sum[name] += v
						}
					}
				}
			}
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return sum, nil
}
