package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/procfs"
)

// IdleConfig sets up an idle run.
type IdleConfig struct {
	Target
	Conns   int           // idle connections (default 5000)
	Settle  time.Duration // wait after the last connect before reading RSS (default 3s)
	Timeout time.Duration // whole run (default 120s)
}

// Idle runs the idle scenario: it reads the server's VmRSS, opens Conns
// connections to /broadcast that send nothing, waits Settle, reads VmRSS
// again and reports the growth per connection. Each connection has a
// reader, so pings are answered and closes are seen.
func Idle(ctx context.Context, cfg IdleConfig) (*Result, error) {
	cfg.Conns = cmp0(cfg.Conns, 5000)
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	if cfg.PID <= 0 {
		return nil, errors.New("idle: needs the server's pid")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := &Result{Scenario: "idle", Params: map[string]any{
		"conns": cfg.Conns, "settle_s": cfg.Settle.Seconds(),
	}}
	rss0, err := procfs.RSS(cfg.PID)
	if err != nil {
		return nil, err
	}
	cpu := startCPU(cfg.PID)
	start := time.Now()
	conns, failed, dialErr := cfg.dialAll(ctx, "/broadcast", cfg.Conns)
	connectTime := time.Since(start).Seconds()
	serverCPU, _, cpuOK := cpu.stop(res)
	defer closeAll(conns)
	connected := cfg.Conns - failed
	if connected == 0 {
		return nil, fmt.Errorf("idle: no connection made: %w", dialErr)
	}
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := c.NextReader(); err != nil {
					closed.Add(1)
					return
				}
			}
		}()
	}
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	rss1, err := procfs.RSS(cfg.PID)
	if err != nil {
		return nil, err
	}
	lostConns := closed.Load() // before we close them ourselves
	closeAll(conns)
	wg.Wait()

	res.add("bytes_per_conn", float64(rss1-rss0)/float64(connected), "")
	res.add("conns_per_s", float64(connected)/connectTime, "")
	if cpuOK {
		res.add("cpu_us_per_connect", float64(serverCPU)/float64(time.Microsecond)/float64(connected), "")
	}
	res.add("connect_failed", float64(failed), "")
	res.add("closed_while_idle", float64(lostConns), "")
	res.Params["rss_before_bytes"] = rss0
	res.Params["rss_after_bytes"] = rss1
	res.Params["connected"] = connected
	res.OK = failed == 0 && lostConns == 0 && ctx.Err() == nil
	if failed > 0 {
		res.note("%d connects failed, first: %v", failed, dialErr)
	}
	return res, nil
}
