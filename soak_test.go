package sockets

import (
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// The soak test runs briefly in every test run; for a real soak pick its
// length, and it reports memory and goroutines over time:
//
//	go test -run TestSoak -soak 10m -v .
var soakFor = flag.Duration("soak", 2*time.Second, "how long TestSoak churns connections under fan-out")

// TestSoak churns connections in and out of a hub room while messages fan
// out, reporting goroutines and heap every tenth of the run; at the end
// everything must be back to where it started.
func TestSoak(t *testing.T) {
	const size, churn = 200, 20 // connections held, replaced per tick
	baseGoroutines, baseHeap := runtime.NumGoroutine(), heapInUse()
	hub := newHub(t, &HubOptions{SlowClientPolicy: DropMessage})
	ts := newTestServer(t, Messages(quiet()), func(ctx *macaron.Context, c *Conn, receiver <-chan string, done <-chan bool) {
		hub.Join("soak", c)
		for {
			select {
			case m := <-receiver:
				hub.Publish("soak", websocket.TextMessage, []byte(m))
			case <-done:
				return
			}
		}
	})

	// Count the connections that ended, as they end.
	var ended sync.WaitGroup
	stopCounting := make(chan struct{})
	var finished int
	ended.Add(1)
	go func() {
		defer ended.Done()
		for {
			select {
			case <-ts.finished:
				finished++
			case <-stopCounting:
				return
			}
		}
	}()

	var readers sync.WaitGroup
	open := func() *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL(), nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		readers.Add(1)
		go func() { // a reader until the test closes it
			defer readers.Done()
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		return ws
	}
	conns := make([]*websocket.Conn, size)
	for i := range conns {
		conns[i] = open()
	}

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	report := *soakFor / 10
	nextReport := time.Now().Add(report)
	start, closed := time.Now(), 0
	for time.Since(start) < *soakFor {
		<-tick.C
		for i := 0; i < churn; i++ {
			k := rand.Intn(size)
			conns[k].Close()
			conns[k] = open()
			closed++
		}
		conns[rand.Intn(size)].WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("tick at %v", time.Since(start))))
		if time.Now().After(nextReport) {
			nextReport = nextReport.Add(report)
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			s := hub.Stats()
			t.Logf("%6.1fs  goroutines %5d  heap %6.1f MiB  members %4d  churned %6d  published %6d  delivered %8d  dropped %d",
				time.Since(start).Seconds(), runtime.NumGoroutine(), float64(m.HeapInuse)/(1<<20), s.Connections, closed, s.MessagesIn, s.MessagesOut, s.Dropped)
		}
	}

	for _, ws := range conns {
		ws.Close()
	}
	readers.Wait()
	close(stopCounting)
	ended.Wait()
	ts.waitFinished(t, size+closed-finished)
	ts.Close()
	testkit.Eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseGoroutines+5 })
	if s := hub.Stats(); s.Connections != 0 {
		t.Errorf("hub members after the soak: got %d, want 0", s.Connections)
	}
	after := heapInUse()
	t.Logf("after %v and %d connections: heap %d KiB above the start", *soakFor, size+closed, (int64(after)-int64(baseHeap))>>10)
	if grown := int64(after) - int64(baseHeap); grown > 8<<20 {
		t.Errorf("heap grew by %d bytes over the soak", grown)
	}
}
