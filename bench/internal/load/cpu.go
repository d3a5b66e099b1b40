package load

import (
	"os"
	"runtime"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/procfs"
)

// procRoot is the /proc mount the interference guard reads.
var procRoot = "/proc"

// cpuWindow measures CPU use over a measured phase: the server's, the load
// generator's own, and everyone else's on the machine (which disturbs the
// numbers: the benchmark assumes the machine is otherwise quiet).
type cpuWindow struct {
	pid               int
	start             time.Time
	server, self      time.Duration
	sys               procfs.SystemTimes
	tasks             map[int]procfs.ProcTimes
	serverOK, totalOK bool
}

func startCPU(pid int) *cpuWindow {
	w := &cpuWindow{pid: pid, start: time.Now()}
	w.server, w.self, w.sys, w.tasks, w.serverOK, w.totalOK = readCPU(pid)
	return w
}

func readCPU(pid int) (server, self time.Duration, sys procfs.SystemTimes, tasks map[int]procfs.ProcTimes, serverOK, totalOK bool) {
	var err error
	if pid > 0 {
		server, err = procfs.CPUTime(pid)
		serverOK = err == nil
	}
	self, err = procfs.CPUTime(os.Getpid())
	totalOK = err == nil
	sys, err = procfs.System()
	totalOK = totalOK && err == nil
	tasks, err = procfs.Tasks(procRoot)
	totalOK = totalOK && err == nil
	return
}

// stop ends the window and records what it saw in res: the server's CPU
// time (returned, with ok) and, as params, the load generator's CPU time,
// the kernel's irq/softirq time, and the share of the machine that other
// processes and the hypervisor took.
//
// The server's CPU time is its utime+stime from /proc/PID/stat. This kernel
// has no IRQ time accounting, so that includes softirq work done while one
// of the server's threads was on the CPU (loopback receive processing set
// off by its own writes, for one); the softirq column of /proc/stat counts
// that work too. The two overlap: irq is reported beside the server's time,
// never to be added to it.
//
// Other processes' CPU is measured directly: the growth of utime+stime
// (and of cutime+cstime, for children reaped meanwhile) of every process
// but the server and the load generator, between the start and the end of
// the window (see procfs.OthersCPU for what that misses: mostly processes
// that end without being reaped by a process still there). Kernel threads
// (ksoftirqd, kworkers) count as other processes; their part is also
// reported alone, since some of it may be this very run's softirq work
// deferred to ksoftirqd (a few hundredths of a second in a 10 s fanout run
// here). A note warns when other processes, or the hypervisor's steal, took
// more than 10% of the machine.
func (w *cpuWindow) stop(res *Result) (server, irq time.Duration, ok bool) {
	s1, self1, t1, tasks1, sOK, tOK := readCPU(w.pid)
	elapsed := time.Since(w.start)
	ok = w.serverOK && sOK
	if ok {
		server = s1 - w.server
		res.Params["server_cpu_s"] = server.Seconds()
	}
	if !w.totalOK || !tOK {
		return server, 0, ok
	}
	self := self1 - w.self
	res.Params["loadgen_phase_cpu_s"] = self.Seconds()
	irq = t1.IRQ - w.sys.IRQ
	res.Params["softirq_cpu_s"] = irq.Seconds()
	exclude := []int{os.Getpid()}
	if w.pid > 0 {
		exclude = append(exclude, w.pid)
	}
	user, kernel := procfs.OthersCPU(w.tasks, tasks1, exclude...)
	other := user + kernel
	res.Params["other_cpu_s"] = other.Seconds()
	res.Params["kthread_cpu_s"] = kernel.Seconds()
	if elapsed > 0 {
		// Clock-tick granularity makes these rough for short phases.
		machine := elapsed.Seconds() * float64(runtime.NumCPU())
		share := min(1, other.Seconds()/machine)
		steal := min(1, max(0, (t1.Steal-w.sys.Steal).Seconds()/machine))
		res.Params["other_cpu_share"] = share
		res.Params["steal_share"] = steal
		if share > 0.10 && elapsed >= time.Second/2 {
			res.note("other processes used %.0f%% of the machine's CPU during the measurement", 100*share)
		}
		if steal > 0.10 && elapsed >= time.Second/2 {
			res.note("the hypervisor took %.0f%% of the machine's CPU (steal) during the measurement", 100*steal)
		}
	}
	return server, irq, ok
}
