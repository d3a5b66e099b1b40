package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i
	}
	_ = x
	cpu, err := CPUTime(pid)
	if err != nil || cpu < 0 {
		t.Fatalf("CPUTime = %v, %v", cpu, err)
	}
	rss, err := RSS(pid)
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	all, err := Tasks("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if me, ok := all[pid]; !ok || me.Kernel || me.Start <= 0 {
		t.Errorf("Tasks: self = %+v, %v", me, ok)
	}
	if k, ok := all[2]; ok && !k.Kernel { // kthreadd, when this is not a container
		t.Errorf("Tasks: pid 2 = %+v, not a kernel thread", k)
	}
}

// fakeProc writes root/PID/stat for each process: utime, stime, cutime,
// cstime in ticks, its start time, and whether it is a kernel thread.
type fakeProc struct {
	pid                     int
	comm                    string
	ut, st, cut, cst, start int64
	kernel                  bool
}

func writeProc(t *testing.T, root string, procs ...fakeProc) {
	t.Helper()
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		dir := filepath.Join(root, fmt.Sprint(p.pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		flags := 4194304
		if p.kernel {
			flags |= pfKthread
		}
		// Fields 1..22 and a few more, as Linux prints them.
		stat := fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 %d 98 0 0 0 %d %d %d %d 20 0 1 0 %d 3133440 362 18446744073709551615 0 0 0 0\n",
			p.pid, p.comm, p.pid, p.pid, flags, p.ut, p.st, p.cut, p.cst, p.start)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not processes: skipped.
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	os.WriteFile(filepath.Join(root, "stat"), []byte("cpu 1 2 3\n"), 0o644)
}

func TestOthersCPUFakeProc(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	const server, loadgen = 100, 200
	tick := time.Second / ClockTicks
	writeProc(t, root,
		fakeProc{pid: 1, comm: "init", ut: 10, st: 10, start: 1},
		fakeProc{pid: 14, comm: "ksoftirqd/0", st: 50, start: 5, kernel: true},
		fakeProc{pid: server, comm: "server", ut: 1000, st: 1000, start: 500},
		fakeProc{pid: loadgen, comm: "load gen) x", ut: 1000, st: 1000, start: 600},
		fakeProc{pid: 300, comm: "busy", ut: 100, st: 20, start: 700},
		fakeProc{pid: 400, comm: "go", ut: 5, st: 5, cut: 30, cst: 10, start: 800},
		fakeProc{pid: 401, comm: "compile", ut: 40, st: 2, start: 810}, // ends, reaped by 400
		fakeProc{pid: 500, comm: "old", ut: 70, st: 0, start: 900},     // ends; pid reused
		fakeProc{pid: 600, comm: "idle", ut: 3, st: 3, start: 950},     // stays idle
	)
	before, err := Tasks(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 9 || before[loadgen].Self != 2000*tick || before[400].Children != 40*tick || !before[14].Kernel {
		t.Fatalf("Tasks read %+v", before)
	}
	writeProc(t, root,
		fakeProc{pid: 1, comm: "init", ut: 10, st: 10, start: 1},
		fakeProc{pid: 14, comm: "ksoftirqd/0", st: 80, start: 5, kernel: true}, // +30 kernel
		fakeProc{pid: server, comm: "server", ut: 5000, st: 5000, start: 500},  // excluded
		fakeProc{pid: loadgen, comm: "load gen) x", ut: 5000, st: 5000, start: 600},
		fakeProc{pid: 300, comm: "busy", ut: 180, st: 40, start: 700}, // +100
		// 401 ended after 50+3 ticks in all (11 in the window), and a new
		// compile started and ended in the window (25 ticks): 400's
		// children grew by 53+25.
		fakeProc{pid: 400, comm: "go", ut: 6, st: 5, cut: 30 + 53 + 25, cst: 10, start: 800}, // +1 own
		fakeProc{pid: 500, comm: "new", ut: 4, st: 3, start: 1200},                           // new process: +7
		fakeProc{pid: 600, comm: "idle", ut: 3, st: 3, start: 950},
		fakeProc{pid: 700, comm: "started", ut: 9, st: 1, cut: 2, start: 1300}, // new: +12
	)
	after, err := Tasks(root)
	if err != nil {
		t.Fatal(err)
	}
	user, kernel := OthersCPU(before, after, server, loadgen)
	// busy 100, go 1, compile 401 11, new compile 25, pid 500 reused: the
	// new one 7 and the old one (ended, reaped by nobody we read) -70, new
	// process 700 12.
	if want := (100 + 1 + 11 + 25 + 7 - 70 + 12) * tick; user != want {
		t.Errorf("user = %v, want %v", user, want)
	}
	if want := 30 * tick; kernel != want {
		t.Errorf("kernel = %v, want %v", kernel, want)
	}
	// Nothing but the server and the load generator moved: 0, and both
	// sums clamp at 0 rather than go negative.
	user, kernel = OthersCPU(before, before, server, loadgen)
	if user != 0 || kernel != 0 {
		t.Errorf("same reading twice: %v %v", user, kernel)
	}
	// Without exclusions the server's and load generator's growth count.
	u1, _ := OthersCPU(before, after)
	u2, _ := OthersCPU(before, after, server, loadgen)
	if u1-u2 != 16000*tick {
		t.Errorf("exclusion took off %v, want %v", u1-u2, 16000*tick)
	}
	// Processes that ended and that nobody we read reaped: their earlier
	// time comes off, and the sum stops at 0.
	delete(after, 300)
	delete(after, 400)
	if user, _ = OthersCPU(before, after, server, loadgen); user != 0 {
		t.Errorf("user = %v, want 0", user)
	}
}
