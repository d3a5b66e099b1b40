// Package serve holds what every benchmark peer shares: the -addr flag, the
// "listening on HOST:PORT" line, a raised open-file limit and a clean stop on
// SIGTERM or SIGINT.
package serve

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// RaiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit, so that
// thousands of sockets can be open at once. It returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// Main runs a peer: it parses the command line (-addr HOST:PORT, port 0
// allowed), listens, prints "listening on HOST:PORT" with the address really
// bound once connections are accepted, serves h, and returns when SIGTERM or
// SIGINT arrives. Hijacked (websocket) connections die with the process.
func Main(name string, h http.Handler) {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (HOST:PORT, port 0 picks a free port)")
	flag.Parse()
	log.SetPrefix(name + ": ")
	log.SetFlags(0)
	if _, err := RaiseFileLimit(); err != nil {
		log.Printf("cannot raise RLIMIT_NOFILE: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// The listener already accepts (the kernel queues connections), so the
	// line is true as soon as it is printed.
	fmt.Printf("listening on %s\n", ln.Addr())
	select {
	case <-stop:
		srv.Close()
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}
}

// Mux routes /echo and /broadcast to the given handlers; every other path
// gets 404.
func Mux(echo, broadcast http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /echo", echo)
	mux.Handle("GET /broadcast", broadcast)
	return mux
}
