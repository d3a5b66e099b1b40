// Command roombench measures one room with history spread over two server
// instances: publish-to-delivery latency (p50, p99) and messages per
// second, with the room's history kept in memory or in NATS JetStream.
//
// Usage (from bench/):
//
//	go run ./cmd/roombench [-stores "memory jetstream"] [-members 500] [-msgs 2000] [-window 64] [-rounds 3]
//
// Each run starts, in this process, two instances of a /broadcast server:
// each its own HTTP server and Hub, whose HubOptions.History is the store
// under test, shared by both (memory: one sockets.NewMemoryHistory, as two
// hubs of one process; jetstream: an embedded nats-server with JetStream
// storing to files in a temporary directory, each instance with its own
// NATS connection and natsjs store). Half the members connect to each
// instance, the publisher to the first; it sends -msgs messages with at
// most -window in flight (in flight: not yet received by every member),
// and the load generator reports deliveries/s, messages/s and the latency
// from the send to each member's receipt (one clock: same process). Client
// and servers share the machine's cores, so the figures are of the pair.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/bench/internal/load"
	"github.com/macaron-contrib/sockets/natsjs"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"gopkg.in/macaron.v1"
)

const room = "all"

func main() {
	stores := flag.String("stores", "memory jetstream", "stores to measure, in order")
	members := flag.Int("members", 500, "members of the room, half on each instance")
	msgs := flag.Int("msgs", 2000, "messages published")
	window := flag.Int("window", 64, "messages in flight at most")
	size := flag.Int("size", 64, "message size in bytes")
	rounds := flag.Int("rounds", 3, "rounds (each store once per round)")
	timeout := flag.Duration("timeout", 60*time.Second, "bound on one run")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("roombench: ")

	results := map[string][]*load.Result{}
	names := strings.Fields(*stores)
	for r := 1; r <= *rounds; r++ {
		for _, name := range names {
			res, err := run(name, load.FanoutConfig{Subs: *members, Msgs: *msgs, Window: *window, Size: *size, Timeout: *timeout})
			if err != nil {
				log.Fatalf("%s, round %d: %v", name, r, err)
			}
			res.Server, res.Round = name, r
			fmt.Println(res.JSON())
			fmt.Println(res.Human())
			results[name] = append(results[name], res)
		}
	}
	fmt.Printf("\nmedians over %d rounds: %d members on 2 instances, %d messages of %d bytes, window %d\n", *rounds, *members, *msgs, *size, *window)
	for _, name := range names {
		fmt.Printf("%-10s", name)
		for _, metric := range []string{"deliveries_per_s", "p50_ms", "p99_ms", "lost", "dup", "ooo"} {
			fmt.Printf("  %s=%.4g", metric, median(results[name], metric))
		}
		fmt.Printf("  messages_per_s=%.4g\n", median(results[name], "deliveries_per_s")/float64(*members))
	}
}

func median(rs []*load.Result, metric string) float64 {
	var v []float64
	for _, r := range rs {
		if x, ok := r.Get(metric); ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// run measures one store: it starts the two instances, runs the fan-out
// and stops everything.
func run(name string, cfg load.FanoutConfig) (*load.Result, error) {
	setup, ok := storeSetups[name]
	if !ok {
		return nil, fmt.Errorf("unknown store %q", name)
	}
	dir, err := os.MkdirTemp("", "roombench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	newStore, cleanup, err := setup(dir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var urls []string
	for i := 0; i < 2; i++ {
		store, err := newStore()
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		url, stop, err := startInstance(store)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		defer stop()
		urls = append(urls, url)
	}
	cfg.Target = load.Target{URL: urls[0], URLs: urls[1:]}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout+10*time.Second)
	defer cancel()
	return load.Fanout(ctx, cfg)
}

// storeSetups make, for a run, a function that gives each instance its
// store, and what to stop after the run.
var storeSetups = map[string]func(dir string) (newStore func() (sockets.HistoryStore, error), cleanup func(), err error){
	"memory": func(string) (func() (sockets.HistoryStore, error), func(), error) {
		shared := sockets.NewMemoryHistory(&sockets.HistoryOptions{Size: 100})
		return func() (sockets.HistoryStore, error) { return shared, nil }, func() { shared.Close() }, nil
	},
	"jetstream": func(dir string) (func() (sockets.HistoryStore, error), func(), error) {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: dir})
		if err != nil {
			return nil, nil, err
		}
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			srv.Shutdown()
			return nil, nil, errors.New("nats server not ready within 10s")
		}
		var conns []*nats.Conn
		var stores []*natsjs.History
		newStore := func() (sockets.HistoryStore, error) {
			nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
			if err != nil {
				return nil, err
			}
			conns = append(conns, nc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h, err := natsjs.NewHistory(ctx, nc, &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 100}})
			if err != nil {
				return nil, err
			}
			stores = append(stores, h)
			return h, nil
		}
		return newStore, func() {
			for _, h := range stores {
				h.Close()
			}
			for _, nc := range conns {
				nc.Close()
			}
			srv.Shutdown()
			srv.WaitForShutdown()
		}, nil
	},
}

// startInstance serves /broadcast with a hub on store: every message a
// member sends is published to the room, with history.
func startInstance(store sockets.HistoryStore) (url string, stop func(), err error) {
	hub, err := sockets.NewHub(&sockets.HubOptions{History: store})
	if err != nil {
		return "", nil, err
	}
	m := macaron.New()
	group := &sockets.Group{}
	opts := &sockets.Options{Logger: log.New(io.Discard, "", 0), HubQueueSize: 1024, Group: group}
	m.Get("/broadcast", sockets.Messages(opts), func(c *sockets.Conn, receiver <-chan string, done <-chan bool) {
		if err := hub.Join(room, c); err != nil {
			log.Printf("join: %v", err)
			return
		}
		for {
			select {
			case msg := <-receiver:
				if err := hub.Publish(room, sockets.TextMessage, []byte(msg)); err != nil {
					log.Printf("publish: %v", err)
				}
			case <-done:
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: m}
	go srv.Serve(ln)
	return "ws://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		group.Shutdown(ctx)
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("shutdown: %v", err)
		}
		hub.Close()
	}, nil
}
