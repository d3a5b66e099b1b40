// Command loadgen drives one benchmark scenario against a server that speaks
// the benchmark protocol (/echo and /broadcast websockets) and prints one
// JSON line with the result followed by one human line starting with "# ".
//
//	loadgen -url ws://127.0.0.1:PORT -pid PID -scenario fanout [-subs 1000 -msgs 2000 -window 64]
//	loadgen -url ws://127.0.0.1:PORT -pid PID -scenario echo [-clients 50 -roundtrips 2000]
//	loadgen -url ws://127.0.0.1:PORT -pid PID -scenario idle [-conns 5000 -settle 3s]
//
// It exits 1 when the scenario could not run at all (for example the
// connections could not be made); a run that lost messages still prints its
// result, with "ok":false, and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/load"
	"github.com/macaron-contrib/sockets/bench/internal/serve"
)

func main() {
	var (
		url      = flag.String("url", "", "server base URL, ws://HOST:PORT (required)")
		pid      = flag.Int("pid", 0, "server PID, for CPU and RSS readings from /proc")
		scenario = flag.String("scenario", "fanout", "fanout, echo or idle")
		label    = flag.String("label", "", "server name to put in the result")
		round    = flag.Int("round", 0, "round number to put in the result")
		timeout  = flag.Duration("timeout", 120*time.Second, "bound on the whole run")
		origin   = flag.String("origin", "", `Origin header to send ("same" for http://HOST:PORT of -url; empty sends none)`)
		dialConc = flag.Int("dial-concurrency", 64, "handshakes in progress at most")

		subs   = flag.Int("subs", 1000, "fanout: subscribers")
		msgs   = flag.Int("msgs", 2000, "fanout: messages to publish")
		window = flag.Int("window", 64, "fanout: messages in flight at most")
		stall  = flag.Duration("stall", 20*time.Second, "fanout: give up when no message completes for this long (0: wait for -timeout)")
		size   = flag.Int("size", 64, "fanout, echo: message size in bytes")

		clients    = flag.Int("clients", 50, "echo: connections")
		roundTrips = flag.Int("roundtrips", 2000, "echo: round trips per connection")

		conns  = flag.Int("conns", 5000, "idle: connections")
		settle = flag.Duration("settle", 3*time.Second, "idle: wait after connecting before reading RSS")
	)
	flag.Parse()
	log.SetPrefix("loadgen: ")
	log.SetFlags(0)
	if *url == "" {
		log.Fatal("-url is required")
	}
	if _, err := serve.RaiseFileLimit(); err != nil {
		log.Printf("cannot raise RLIMIT_NOFILE: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	target := load.Target{URL: *url, PID: *pid, Origin: *origin, DialConcurrency: *dialConc}
	var res *load.Result
	var err error
	switch *scenario {
	case "fanout":
		res, err = load.Fanout(ctx, load.FanoutConfig{Target: target, Subs: *subs, Msgs: *msgs,
			Window: *window, Size: *size, Timeout: *timeout, Stall: *stall})
	case "echo":
		res, err = load.Echo(ctx, load.EchoConfig{Target: target, Clients: *clients,
			RoundTrips: *roundTrips, Size: *size, Timeout: *timeout})
	case "idle":
		res, err = load.Idle(ctx, load.IdleConfig{Target: target, Conns: *conns,
			Settle: *settle, Timeout: *timeout})
	default:
		log.Fatalf("unknown -scenario %q", *scenario)
	}
	if err != nil {
		log.Fatal(err)
	}
	res.Server, res.Round = *label, *round
	var rusage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &rusage) == nil {
		res.Params["loadgen_cpu_s"] = time.Duration(syscall.TimevalToNsec(rusage.Utime) + syscall.TimevalToNsec(rusage.Stime)).Seconds()
	}
	fmt.Println(res.JSON())
	fmt.Println(res.Human())
}
