package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/load"
)

// peerBinaries builds every peer (and our library's server, when
// ../../examples/bench is a main package) into dir and returns name → path.
// The server is built in the examples module (../../examples, a module of
// its own), so that it builds with or without the repository's go.work.
func peerBinaries(t *testing.T, dir string) map[string]string {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"gorillahub", "melody", "gorillabatched", "gws"} {
		out := filepath.Join(dir, name)
		build(t, "..", out, "./peers/"+name)
		bins[name] = out
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	examples := filepath.Join(root, "examples")
	if st, err := os.Stat(filepath.Join(examples, "bench")); err == nil && st.IsDir() {
		cmd := exec.Command("go", "list", "-f", "{{.Name}}", "./bench")
		cmd.Dir = examples
		if b, err := cmd.Output(); err == nil && strings.TrimSpace(string(b)) == "main" {
			out := filepath.Join(dir, "sockets")
			build(t, examples, out, "./bench")
			bins["sockets"] = out
		}
	}
	return bins
}

func build(t *testing.T, dir, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// startPeer runs bin on 127.0.0.1:0 and returns its process and address.
func startPeer(t *testing.T, bin string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- addr
				break
			}
		}
		for sc.Scan() { // keep the pipe drained
		}
	}()
	select {
	case addr := <-lines:
		return cmd, addr
	case <-time.After(10 * time.Second):
		t.Fatal("no 'listening on' line in 10 s")
	}
	return nil, ""
}

func zero(t *testing.T, res *load.Result, names ...string) {
	t.Helper()
	for _, n := range names {
		if v, ok := res.Get(n); !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0: %s", n, v, ok, res.Human())
		}
	}
}

// TestPeers runs a very small fanout and echo against every peer binary,
// with and without a same-host Origin, and checks the stop on SIGTERM.
func TestPeers(t *testing.T) {
	bins := peerBinaries(t, t.TempDir())
	for name, bin := range bins {
		t.Run(name, func(t *testing.T) {
			cmd, addr := startPeer(t, bin)
			ctx := context.Background()
			target := load.Target{URL: "ws://" + addr, PID: cmd.Process.Pid, DialConcurrency: 8}

			res, err := load.Fanout(ctx, load.FanoutConfig{Target: target, Subs: 20, Msgs: 50, Window: 8,
				Timeout: 15 * time.Second, Stall: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK {
				t.Errorf("fanout not ok: %s", res.Human())
			}
			zero(t, res, "lost", "dup", "ooo", "dropped_subs", "non_text")
			if got := res.Params["delivered"]; got != 20*50 {
				t.Errorf("delivered = %v, want 1000", got)
			}

			target.Origin = "same"
			res, err = load.Echo(ctx, load.EchoConfig{Target: target, Clients: 5, RoundTrips: 50,
				Timeout: 15 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK {
				t.Errorf("echo not ok: %s", res.Human())
			}
			zero(t, res, "failed", "mismatched")

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit after SIGTERM: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("still running 5 s after SIGTERM")
			}
		})
	}
}
