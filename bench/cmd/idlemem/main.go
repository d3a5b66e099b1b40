// Command idlemem measures, in-process, what an idle websocket connection
// costs a server in Go memory, for our library's /broadcast handler, three
// raw gorilla references and gws:
//
//	sockets      macaron.New() + sockets.Messages(SkipLogging) + a Hub room,
//	             the /broadcast route of examples/bench rebuilt here
//	macaronbare  a Macaron handler that upgrades with plain gorilla (zero
//	             buffer sizes) and reads on the HTTP goroutine: no goroutine
//	             of its own
//	gorillahub   the classic gorilla hub (internal/gorillahub, as the
//	             gorillahub peer): reader + writer goroutine per client,
//	             256-deep send channel, 1 KB read / 1 KB write buffers
//	gorillahub0  the same hub with zero buffer sizes (gorilla then reuses
//	             net/http's 4 KB buffers)
//	gws          github.com/lxzan/gws as the gws peer serves it
//	             (internal/gwshub): one reader goroutine per connection,
//	             gws's 4 KB read buffer, a ping timer, no write goroutine
//	             while nothing is queued
//
// Usage (from bench/):
//
//	go run ./cmd/idlemem [-n 2000] [-servers "sockets macaronbare gorillahub gorillahub0 gws"] [-rounds 1]
//
// Each server runs in a fresh process of its own (this binary again), on
// 127.0.0.1:0. That process reads runtime.MemStats after three
// runtime.GC() calls, has a separate child process (this binary again) open
// -n websockets to /broadcast that send nothing, waits -settle, collects
// garbage three times again and reads MemStats again. The clients live in
// that other process, so none of their memory is in the figures and nothing
// has to be subtracted. Per connection it reports the growth of HeapInuse
// (which holds the goroutine descriptors too: they are heap objects), of
// StackInuse, their sum, HeapAlloc (live objects only, without span
// fragmentation) and goroutines. Forced collections also shrink goroutine
// stacks that use under a quarter of their size, which a long-running server
// gets from its own collections.
//
// Everything is bounded: each process gives up after -timeout, the client
// process ends when its parent does, and every child is killed by its pid.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/bench/internal/gorillahub"
	"github.com/macaron-contrib/sockets/bench/internal/gwshub"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
	"gopkg.in/macaron.v1"
)

// roleEnv selects what a process of this binary does: empty for the
// orchestrator, "server NAME" or "clients" for its children.
const roleEnv = "IDLEMEM_ROLE"

// servers, in the order they run and print.
var servers = []struct{ name, what string }{
	{"sockets", "sockets.Messages + Hub (examples/bench)"},
	{"macaronbare", "Macaron handler, plain gorilla, reads on the HTTP goroutine"},
	{"gorillahub", "classic gorilla hub, 1 KB/1 KB buffers"},
	{"gorillahub0", "classic gorilla hub, zero buffer sizes"},
	{"gws", "lxzan/gws, as the gws peer (internal/gwshub)"},
}

// newHandler builds server name's routes.
func newHandler(name string) (http.Handler, error) {
	switch name {
	case "sockets":
		// As examples/bench builds it (its /broadcast route).
		hub, err := sockets.NewHub(nil)
		if err != nil {
			return nil, err
		}
		m := macaron.New()
		opts := &sockets.Options{SkipLogging: true}
		m.Get("/broadcast", sockets.Messages(opts), func(c *sockets.Conn, receiver <-chan string, done <-chan bool) {
			hub.Join("all", c)
			for {
				select {
				case msg := <-receiver:
					hub.Publish("all", websocket.TextMessage, []byte(msg))
				case <-done:
					return
				}
			}
		})
		return m, nil
	case "macaronbare":
		up := &websocket.Upgrader{}
		m := macaron.New()
		m.Get("/broadcast", func(ctx *macaron.Context) {
			c, err := up.Upgrade(ctx.Resp, ctx.Req.Request, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		})
		return m, nil
	case "gorillahub":
		return gorillahub.Handler(1024, 1024), nil
	case "gorillahub0":
		return gorillahub.Handler(0, 0), nil
	case "gws":
		return gwshub.Handler(), nil
	}
	return nil, fmt.Errorf("unknown server %q", name)
}

// result is what a server process prints, as one JSON line.
type result struct {
	Server     string  `json:"server"`
	Conns      int     `json:"conns"`
	HeapInuse  float64 `json:"heap_inuse_per_conn"`
	StackInuse float64 `json:"stack_inuse_per_conn"`
	HeapAlloc  float64 `json:"heap_alloc_per_conn"`
	Goroutines float64 `json:"goroutines_per_conn"`
	Hijacked   int64   `json:"hijacked"`
}

func (r result) total() float64 { return r.HeapInuse + r.StackInuse }

func main() {
	n := flag.Int("n", 2000, "idle connections per server")
	list := flag.String("servers", "sockets macaronbare gorillahub gorillahub0 gws", "servers to measure, in order")
	rounds := flag.Int("rounds", 1, "rounds (each server once per round, a fresh process each time; the table shows medians)")
	settle := flag.Duration("settle", time.Second, "wait after the last connect before measuring")
	timeout := flag.Duration("timeout", 50*time.Second, "bound on the whole run")
	asJSON := flag.Bool("json", false, "print each server process's result as a JSON line instead of the table")
	flag.Parse()
	log.SetFlags(0)
	if _, err := serve.RaiseFileLimit(); err != nil {
		log.Printf("idlemem: cannot raise RLIMIT_NOFILE: %v", err)
	}
	role := os.Getenv(roleEnv)
	switch {
	case strings.HasPrefix(role, "server "):
		log.SetPrefix("idlemem server: ")
		if err := serverRole(strings.TrimPrefix(role, "server "), *n, *settle, *timeout); err != nil {
			log.Fatal(err)
		}
		return
	case role == "clients":
		log.SetPrefix("idlemem clients: ")
		if err := clientsRole(flag.Arg(0), *n, *timeout); err != nil {
			log.Fatal(err)
		}
		return
	}
	log.SetPrefix("idlemem: ")
	if *n <= 0 || *rounds <= 0 {
		log.Fatal("-n and -rounds must be positive")
	}
	names := strings.Fields(*list)
	for _, name := range names {
		if !slices.ContainsFunc(servers, func(s struct{ name, what string }) bool { return s.name == name }) {
			log.Fatalf("unknown server %q", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if !*asJSON {
		header(*n, *rounds, *settle)
	}
	got := map[string][]result{}
	for round := 0; round < *rounds; round++ {
		for _, name := range names {
			r, err := runServer(ctx, name, *n, *settle, *timeout)
			if err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			got[name] = append(got[name], r)
			if *asJSON {
				b, _ := json.Marshal(r)
				fmt.Println(string(b))
			}
		}
	}
	if !*asJSON {
		printTable(os.Stdout, names, got)
	}
}

func header(n, rounds int, settle time.Duration) {
	fmt.Printf("idlemem: %d idle websockets to /broadcast per server, 127.0.0.1; %d round(s); go %s, GOMAXPROCS %d\n",
		n, rounds, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOMAXPROCS(0))
	fmt.Println("Each server runs in a fresh process; its clients run in another process, so their memory is not")
	fmt.Println("in these figures (nothing subtracted). Per connection: growth of runtime.MemStats from before")
	fmt.Printf("connecting to %v after the last connect, each read after 3x runtime.GC(). heap_inuse includes the\n", settle)
	fmt.Println("goroutine descriptors (heap objects); heap_alloc is live objects only. Bytes per connection:")
	fmt.Println()
}

// printTable writes the table of medians.
func printTable(w io.Writer, names []string, got map[string][]result) {
	med := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	total := func(r result) float64 { return r.total() }
	base := 0.0
	if rs := got["gorillahub"]; len(rs) > 0 {
		base = med(rs, total)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "server\theap_inuse\tstack_inuse\ttotal\tvs gorillahub\theap_alloc\tgoroutines\twhat")
	for _, name := range names {
		rs := got[name]
		t := med(rs, total)
		ratio := "n/a"
		if base > 0 {
			ratio = fmt.Sprintf("%.2f", t/base)
		}
		what := ""
		for _, s := range servers {
			if s.name == name {
				what = s.what
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%s\t%.0f\t%.2f\t%s\n", name,
			med(rs, func(r result) float64 { return r.HeapInuse }),
			med(rs, func(r result) float64 { return r.StackInuse }), t, ratio,
			med(rs, func(r result) float64 { return r.HeapAlloc }),
			med(rs, func(r result) float64 { return r.Goroutines }), what)
	}
	tw.Flush()
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// self returns a command running this binary with role in the environment.
func self(ctx context.Context, role string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runServer runs one server process and returns what it measured.
func runServer(ctx context.Context, name string, n int, settle, timeout time.Duration) (result, error) {
	cmd := self(ctx, "server "+name, "-n", strconv.Itoa(n), "-settle", settle.String(), "-timeout", timeout.String())
	out, err := cmd.Output() // killed, by its pid, when ctx ends
	if err != nil {
		return result{}, err
	}
	var r result
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return result{}, err
			}
			return r, nil
		}
	}
	return result{}, errors.New("no result line")
}

// memNow collects garbage three times (the last ones find nothing new but
// give stacks more chances to shrink and sweeping time to finish) and
// reads MemStats.
func memNow() (runtime.MemStats, int) {
	for range 3 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms, runtime.NumGoroutine()
}

// serverRole serves name on 127.0.0.1:0, has a child process hold n idle
// connections to it and prints one JSON result line.
func serverRole(name string, n int, settle, timeout time.Duration) error {
	log.SetOutput(io.Discard) // the hub logs unexpected closes
	defer log.SetOutput(os.Stderr)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h, err := newHandler(name)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var hijacked atomic.Int64
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateHijacked {
				hijacked.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "ws://" + ln.Addr().String() + "/broadcast"

	// Warm up: one connection made and closed, so that what is made once
	// per process (the hub's room, pools, Macaron's router) is there before.
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	ws.Close()
	time.Sleep(200 * time.Millisecond)
	hijacked.Store(0)

	clients := self(ctx, "clients", "-n", strconv.Itoa(n), "-timeout", timeout.String(), url)
	stdin, err := clients.StdinPipe() // closed when we are done: the clients exit
	if err != nil {
		return err
	}
	stdout, err := clients.StdoutPipe()
	if err != nil {
		return err
	}
	if err := clients.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { clients.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			clients.Process.Kill()
			<-done
		}
	}()
	// Measured once the client process and what watches it are there,
	// before it connects.
	before, g0 := memNow()
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("clients: %w", err)
	}
	if strings.TrimSpace(line) != "connected "+strconv.Itoa(n) {
		return fmt.Errorf("clients: %s", strings.TrimSpace(line))
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, g1 := memNow()
	if got := hijacked.Load(); got != int64(n) {
		return fmt.Errorf("%d of %d connections upgraded", got, n)
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	b, err := json.Marshal(result{
		Server:     name,
		Conns:      n,
		HeapInuse:  per(after.HeapInuse, before.HeapInuse),
		StackInuse: per(after.StackInuse, before.StackInuse),
		HeapAlloc:  per(after.HeapAlloc, before.HeapAlloc),
		Goroutines: float64(g1-g0) / float64(n),
		Hijacked:   hijacked.Load(),
	})
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// clientsRole waits for a line on stdin, opens n websockets to url, each
// with a reader (which answers pings), prints "connected N" (or why not),
// and holds them until stdin ends or timeout passes.
func clientsRole(url string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return nil // the server process gave up
	}
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, _, err := dialer.DialContext(ctx, url, nil)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				conns[i] = c
				go func() {
					for {
						if _, _, err := c.NextReader(); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		fmt.Printf("failed: %v\n", firstErr)
		return nil
	}
	fmt.Printf("connected %d\n", n)
	ended := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(ended) }()
	select {
	case <-ended:
	case <-ctx.Done():
	}
	for _, c := range conns {
		c.Close()
	}
	return nil
}
