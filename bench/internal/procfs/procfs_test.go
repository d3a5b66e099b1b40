package procfs

import (
	"os"
	"testing"
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
}
