package load

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// EchoConfig sets up an echo run.
type EchoConfig struct {
	Target
	Clients    int           // connections (default 50)
	RoundTrips int           // round trips per connection (default 2000)
	Size       int           // message size in bytes (default 64)
	Timeout    time.Duration // whole run (default 120s)
}

// Echo runs the echo scenario: Clients connections to /echo, each doing
// RoundTrips round trips with one message outstanding; every reply must
// equal what was sent.
func Echo(ctx context.Context, cfg EchoConfig) (*Result, error) {
	cfg.Clients = cmp0(cfg.Clients, 50)
	cfg.RoundTrips = cmp0(cfg.RoundTrips, 2000)
	cfg.Size = cmp0(cfg.Size, 64)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	res := &Result{Scenario: "echo", Params: map[string]any{
		"clients": cfg.Clients, "round_trips": cfg.RoundTrips, "size": cfg.Size,
	}}
	conns, failed, err := cfg.dialAll(ctx, "/echo", cfg.Clients)
	if err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("echo: %d of %d clients failed to connect: %w", failed, cfg.Clients, err)
	}
	defer closeAll(conns)

	type outcome struct {
		done, mismatched int
		lat              []int64
		err              error
	}
	outs := make([]outcome, len(conns))
	base := time.Now()
	startGate := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[i]
			o.lat = make([]int64, 0, cfg.RoundTrips)
			c.SetReadDeadline(deadline)
			c.SetWriteDeadline(deadline)
			msg := make([]byte, 0, cfg.Size+64)
			buf := make([]byte, cfg.Size+256)
			<-startGate
			for k := 0; k < cfg.RoundTrips; k++ {
				msg = appendMsg(msg[:0], 'e', k, time.Since(base), cfg.Size)
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					o.err = err
					return
				}
				n, typ, err := readInto(c, buf)
				if err != nil {
					o.err = err
					return
				}
				at := time.Since(base)
				if typ != websocket.TextMessage || n != len(msg) || !bytes.Equal(buf[:n], msg) {
					o.mismatched++
				}
				_, _, ts, _ := parseMsg(msg)
				o.lat = append(o.lat, int64(at-ts))
				o.done++
			}
		}()
	}
	cpu := startCPU(cfg.PID)
	start := time.Now()
	close(startGate)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	serverCPU, _, cpuOK := cpu.stop(res)

	var done, mismatched, errs int
	var lat []int64
	var firstErr error
	for _, o := range outs {
		done += o.done
		mismatched += o.mismatched
		lat = append(lat, o.lat...)
		if o.err != nil {
			errs++
			if firstErr == nil {
				firstErr = o.err
			}
		}
	}
	slices.Sort(lat)
	total := cfg.Clients * cfg.RoundTrips
	res.add("rtt_per_s", float64(done)/elapsed, "")
	res.add("p50_ms", float64(percentile(lat, 50))/1e6, "")
	res.add("p99_ms", float64(percentile(lat, 99))/1e6, "")
	res.add("failed", float64(total-done), "")
	res.add("mismatched", float64(mismatched), "")
	if cpuOK && done > 0 {
		res.add("cpu_us_per_rt", float64(serverCPU)/float64(time.Microsecond)/float64(done), "")
	}
	res.Params["elapsed_s"] = elapsed
	res.OK = done == total && mismatched == 0
	if firstErr != nil {
		res.note("%d clients failed, first: %v", errs, firstErr)
	}
	return res, nil
}
