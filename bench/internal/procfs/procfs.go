// Package procfs reads the few /proc numbers the load generator reports: a
// process's CPU time and resident set size, every process's CPU time, and
// the machine's.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (what `getconf CLK_TCK`
// prints); reading it needs sysconf, which needs cgo.
const ClockTicks = 100

// CPUTime returns utime+stime of process pid from /proc/PID/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	t, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("procfs: /proc/%d/stat: %w", pid, err)
	}
	return t.Self, nil
}

// ProcTimes is what one /proc/PID/stat says about a process's CPU time.
type ProcTimes struct {
	// Start is the process's start time in clock ticks after boot; a pid
	// that is reused between two readings has a different one.
	Start int64
	// Self is utime+stime: the CPU time of all its threads, live or ended.
	Self time.Duration
	// Children is cutime+cstime: the Self and Children of every child it
	// has waited for (reaped) after the child ended.
	Children time.Duration
	// Kernel is set for kernel threads (PF_KTHREAD), such as ksoftirqd and
	// kworkers.
	Kernel bool
}

// pfKthread is PF_KTHREAD in the flags field of /proc/PID/stat.
const pfKthread = 0x00200000

// parseStat parses the contents of /proc/PID/stat.
func parseStat(b []byte) (ProcTimes, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcTimes{}, fmt.Errorf("no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3]. flags is field 9, utime
	// 14, stime 15, cutime 16, cstime 17, starttime 22.
	if len(f) < 20 {
		return ProcTimes{}, fmt.Errorf("%d fields after the name", len(f))
	}
	var v [20]int64
	for _, n := range []int{9, 14, 15, 16, 17, 22} {
		x, err := strconv.ParseInt(f[n-3], 10, 64)
		if err != nil {
			return ProcTimes{}, fmt.Errorf("field %d: %w", n, err)
		}
		v[n-3] = x
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / ClockTicks }
	return ProcTimes{
		Start:    v[22-3],
		Self:     tick(v[14-3] + v[15-3]),
		Children: tick(v[16-3] + v[17-3]),
		Kernel:   v[9-3]&pfKthread != 0,
	}, nil
}

// Tasks reads ProcTimes of every process under root, a /proc mount
// ("/proc"; tests pass a fake tree). A process that ends while it is being
// read is left out.
func Tasks(root string) (map[int]ProcTimes, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	m := make(map[int]ProcTimes, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue // ended since ReadDir
		}
		t, err := parseStat(b)
		if err != nil {
			return nil, fmt.Errorf("procfs: %s/%d/stat: %w", root, pid, err)
		}
		m[pid] = t
	}
	return m, nil
}

// OthersCPU returns the CPU time that processes other than exclude used
// between two Tasks readings, split into user-space processes and kernel
// threads.
//
// For a process present in both readings (same pid, same start time) it
// counts the growth of Self+Children, so children it reaped in between are
// counted too, a short-lived compiler under `go build` for example. A
// process present only in the second reading started in between and counts
// in full. A process present only in the first ended in between: its time
// after the first reading reaches us only through the parent that reaps it
// (whose Children grows by the child's whole total), so its first-reading
// total is taken off to leave just the part in between. What is still
// missed: a process that ends without being reaped by a process we read (a
// parent that ignores SIGCHLD, an excluded parent, a parent outside this
// pid namespace), and one reaped only after the second reading; the last
// two also make the subtraction take off time that was never added, so
// each sum is clamped at 0. Kernel threads never end here in practice.
func OthersCPU(before, after map[int]ProcTimes, exclude ...int) (user, kernel time.Duration) {
	add := func(t ProcTimes, d time.Duration) {
		if t.Kernel {
			kernel += d
		} else {
			user += d
		}
	}
	for pid, a := range after {
		if slices.Contains(exclude, pid) {
			continue
		}
		if b, ok := before[pid]; ok && b.Start == a.Start {
			add(a, a.Self+a.Children-b.Self-b.Children)
		} else {
			add(a, a.Self+a.Children)
		}
	}
	for pid, b := range before {
		if slices.Contains(exclude, pid) {
			continue
		}
		if a, ok := after[pid]; !ok || a.Start != b.Start {
			add(b, -(b.Self + b.Children))
		}
	}
	return max(user, 0), max(kernel, 0)
}

// RSS returns VmRSS of process pid in bytes, from /proc/PID/status.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("procfs: no VmRSS in /proc/%d/status", pid)
}

// SystemTimes is the busy CPU time of all cores together since boot, from
// the first line of /proc/stat. Each clock tick goes to exactly one column
// there, but not to one place overall: the kernel here is built with tick
// based accounting and without CONFIG_IRQ_TIME_ACCOUNTING, so a tick that
// lands in irq or softirq context is counted in the irq or softirq column
// *and* in the stime of whatever task was running (the idle task when
// none). The sum of every process's utime+stime therefore overlaps IRQ.
type SystemTimes struct {
	// Task is user, nice and system time: ticks that landed in a task
	// outside irq and softirq context.
	Task time.Duration
	// IRQ is irq and softirq time; loopback TCP does most of its receive
	// work in softirq. Ticks counted here are also in the stime of the task
	// they interrupted (the server, the load generator, ksoftirqd, ...).
	IRQ time.Duration
	// Steal is time the hypervisor gave to someone else.
	Steal time.Duration
}

// System reads SystemTimes.
func System() (SystemTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return SystemTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return SystemTimes{}, fmt.Errorf("procfs: odd /proc/stat")
	}
	var v [9]int64 // cpu user nice system idle iowait irq softirq steal
	for i := 1; i < len(v); i++ {
		if v[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return SystemTimes{}, err
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / ClockTicks }
	return SystemTimes{Task: tick(v[1] + v[2] + v[3]), IRQ: tick(v[6] + v[7]), Steal: tick(v[8])}, nil
}
