package load

import (
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/procfs"
)

// The test binary doubles as the processes of TestOtherCPU, chosen by
// BENCH_CPU_HELPER; each ends by itself after ten seconds at most, and the
// test kills them (by pid) when it ends.
func TestMain(m *testing.M) {
	switch os.Getenv("BENCH_CPU_HELPER") {
	case "":
		os.Exit(m.Run())
	case "loopback":
		// Ping-pong over loopback TCP: user, system and softirq time.
		loopback(10 * time.Second)
	case "idle":
		time.Sleep(10 * time.Second)
	case "spin":
		spin(300*time.Millisecond, 5*time.Second)
	case "parent":
		// Runs a short busy child, reaps it, says so, then idles.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BENCH_CPU_HELPER=spin")
		if err := cmd.Run(); err != nil {
			os.Exit(1)
		}
		os.Stdout.WriteString("reaped\n")
		time.Sleep(10 * time.Second)
	}
	os.Exit(0)
}

// spin busy-loops until it has used cpu of CPU time, or for wall at most.
func spin(cpu, wall time.Duration) {
	x := 0
	for end := time.Now().Add(wall); time.Now().Before(end); {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil &&
			time.Duration(syscall.TimevalToNsec(ru.Utime)+syscall.TimevalToNsec(ru.Stime)) >= cpu {
			break
		}
	}
	_ = x
}

func loopback(d time.Duration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		os.Exit(1)
	}
	buf := make([]byte, 64)
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := c.Write(buf); err != nil {
			os.Exit(1)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			os.Exit(1)
		}
	}
}

// startHelper starts the test binary in one of its helper modes, with its
// stdout on out when out is not nil; it is killed, by its pid, when the
// test ends.
func startHelper(t *testing.T, mode string, out io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BENCH_CPU_HELPER="+mode)
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func procTimes(t *testing.T, pid int) procfs.ProcTimes {
	t.Helper()
	all, err := procfs.Tasks("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return all[pid]
}

// TestOtherCPU: CPU that other processes use during a window shows up in
// other_cpu_s in full: a process doing loopback TCP (whose softirq ticks
// /proc/stat counts as softirq, not as task time, while the process is
// charged for them too), and a short-lived process that starts and ends
// inside the window and is reaped by a process that stays.
func TestOtherCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("uses about two CPU-seconds")
	}
	busy := startHelper(t, "loopback", nil)
	server := startHelper(t, "idle", nil) // stands for the server
	time.Sleep(100 * time.Millisecond)    // let them get going
	a0 := procTimes(t, busy.Process.Pid)

	w := startCPU(server.Process.Pid)
	pr, pw := io.Pipe()
	parent := startHelper(t, "parent", pw)
	reaped := make(chan bool, 1)
	go func() {
		line := make([]byte, 7)
		_, err := io.ReadFull(pr, line)
		reaped <- err == nil && string(line) == "reaped\n"
		io.Copy(io.Discard, pr)
	}()
	select {
	case ok := <-reaped:
		if !ok {
			t.Fatal("the parent helper failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parent helper did not reap its child in 10 s")
	}
	time.Sleep(200 * time.Millisecond) // a window of some length, for the share
	b1 := procTimes(t, parent.Process.Pid)
	a1 := procTimes(t, busy.Process.Pid)
	res := &Result{Params: map[string]any{}}
	w.stop(res)

	// What the two helpers alone used in the window, read from their own
	// stat files; the window must have seen at least that (the machine
	// may be doing other things too).
	want := a1.Self - a0.Self + b1.Self + b1.Children
	if b1.Children < 250*time.Millisecond {
		t.Fatalf("the short-lived child used %v; want about 300ms", b1.Children)
	}
	share, _ := res.Params["other_cpu_share"].(float64)
	elapsed := time.Since(w.start)
	// Upper bound on what the window saw, from the share it reports
	// (which a slightly later clock only makes larger).
	got := time.Duration(share * elapsed.Seconds() * float64(runtime.NumCPU()) * float64(time.Second))
	t.Logf("helpers used %v; other_cpu_s %v, other_cpu_share %.3f (%v), kthread_cpu_s %v, softirq_cpu_s %v",
		want, res.Params["other_cpu_s"], share, got, res.Params["kthread_cpu_s"], res.Params["softirq_cpu_s"])
	slack := 3 * time.Second / procfs.ClockTicks
	if got < want-slack {
		t.Errorf("other processes' CPU %v, below the %v the helpers alone used", got, want)
	}
}
