package load

import (
	"os"
	"runtime"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/procfs"
)

// cpuWindow measures CPU use over a measured phase: the server's, the load
// generator's own, and everyone else's on the machine (which disturbs the
// numbers: the benchmark assumes the machine is otherwise quiet).
type cpuWindow struct {
	pid               int
	start             time.Time
	server, self      time.Duration
	sys               procfs.SystemTimes
	serverOK, totalOK bool
}

func startCPU(pid int) *cpuWindow {
	w := &cpuWindow{pid: pid, start: time.Now()}
	w.server, w.self, w.sys, w.serverOK, w.totalOK = readCPU(pid)
	return w
}

func readCPU(pid int) (server, self time.Duration, sys procfs.SystemTimes, serverOK, totalOK bool) {
	var err error
	if pid > 0 {
		server, err = procfs.CPUTime(pid)
		serverOK = err == nil
	}
	self, err = procfs.CPUTime(os.Getpid())
	totalOK = err == nil
	sys, err = procfs.System()
	totalOK = totalOK && err == nil
	return
}

// stop ends the window and records what it saw in res: the server's CPU
// time (returned, with ok) and, as params, the load generator's CPU time,
// the kernel's irq/softirq time (charged to no process: mostly the loopback
// traffic of this very run) and other processes' share of the machine
// (their task time plus steal); a note warns when others took more than
// 10%.
func (w *cpuWindow) stop(res *Result) (server, irq time.Duration, ok bool) {
	s1, self1, t1, sOK, tOK := readCPU(w.pid)
	elapsed := time.Since(w.start)
	ok = w.serverOK && sOK
	if ok {
		server = s1 - w.server
		res.Params["server_cpu_s"] = server.Seconds()
	}
	if w.totalOK && tOK {
		self := self1 - w.self
		res.Params["loadgen_phase_cpu_s"] = self.Seconds()
		irq = t1.IRQ - w.sys.IRQ
		res.Params["softirq_cpu_s"] = irq.Seconds()
		if ok && elapsed > 0 {
			// Clock-tick granularity makes this rough for short phases.
			other := (t1.Task - w.sys.Task) + (t1.Steal - w.sys.Steal) - self - server
			share := min(1, max(0, other.Seconds()/(elapsed.Seconds()*float64(runtime.NumCPU()))))
			res.Params["other_cpu_share"] = share
			if share > 0.10 && elapsed >= time.Second/2 {
				res.note("other processes used %.0f%% of the machine's CPU during the measurement", 100*share)
			}
		}
	}
	return server, irq, ok
}
