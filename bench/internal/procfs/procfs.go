// Package procfs reads the few /proc numbers the load generator reports: a
// process's CPU time and resident set size.
package procfs

import (
	"bytes"
	"fmt"
	"os"
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
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procfs: odd /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procfs: short /proc/%d/stat", pid)
	}
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / ClockTicks, nil
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
// the first line of /proc/stat.
type SystemTimes struct {
	// Task is user, nice and system time: what processes were charged.
	Task time.Duration
	// IRQ is irq and softirq time, which (with IRQ time accounting, as
	// here) no process is charged for; loopback TCP does most of its
	// receive work in softirq.
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
