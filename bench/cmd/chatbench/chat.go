package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildChat builds the chat example into dir and returns the binary's
// path. It finds the repository from the library's module directory (the
// bench module replaces it with ../), and builds in the examples module,
// so that it works with or without the repository's go.work.
func buildChat(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/macaron-contrib/sockets").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("finding the repository (go list -m; run from bench/, or give -chat): %w", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(dir, "chat")
	cmd := exec.Command("go", "build", "-o", bin, "./chat")
	cmd.Dir = filepath.Join(root, "examples")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./chat in %s: %w\n%s", cmd.Dir, err, b)
	}
	return bin, nil
}

// instance is one chat process.
type instance struct {
	cmd    *exec.Cmd
	addr   string // where the chat listens, HOST:PORT
	debug  string // where its metrics are, HOST:PORT
	exited chan struct{}

	mu   sync.Mutex
	tail []string // its last log lines
	err  error    // from Wait, once exited is closed
}

// startChat runs the chat binary with args (plus -addr and -debug-addr on
// ephemeral ports of 127.0.0.1) and waits for it to listen. NATS_*
// variables are left out of its environment: the chat would take NATS_URL
// as -nats.
func startChat(bin string, args ...string) (*instance, error) {
	args = append([]string{"-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The chat dies with this process, should it be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	in := &instance{cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var listen, debug string
		for sc.Scan() {
			line := sc.Text()
			in.mu.Lock()
			if len(in.tail) == 20 {
				in.tail = in.tail[1:]
			}
			in.tail = append(in.tail, line)
			in.mu.Unlock()
			if _, a, ok := strings.Cut(line, "chat: metrics at http://"); ok && debug == "" {
				debug, _, _ = strings.Cut(a, "/")
			}
			if _, a, ok := strings.Cut(line, "chat: listening on http://"); ok && listen == "" {
				listen = strings.TrimSpace(a)
				addrs <- [2]string{listen, debug}
			}
		}
		err := cmd.Wait()
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
		close(in.exited)
	}()
	select {
	case a := <-addrs:
		in.addr, in.debug = a[0], a[1]
		if in.debug == "" {
			in.stop()
			return nil, errors.New("chat: no metrics address in its log")
		}
		return in, nil
	case <-in.exited:
		return nil, fmt.Errorf("chat exited before listening: %v\n%s", in.err, in.logTail())
	case <-time.After(30 * time.Second):
		in.stop()
		return nil, fmt.Errorf("chat: no 'listening on' line within 30s\n%s", in.logTail())
	}
}

func (in *instance) logTail() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return strings.Join(in.tail, "\n")
}

// stop sends SIGTERM and waits for the process to end; past 15 s it is
// killed.
func (in *instance) stop() error {
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-in.exited
		return errors.New("chat did not stop within 15s of SIGTERM: killed")
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
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
