package sockets

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"gopkg.in/macaron.v1"
)

// runLoad holds conns concurrent connections in one hub room with fan-out
// running, closes them all, and checks that the goroutines and the heap
// come back down. The race detector allows 8128 live goroutines, so the
// -race build runs it with fewer connections (load_race_test.go).
func runLoad(t *testing.T, conns int) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapInUse()

	hub := newHub(t, &HubOptions{SlowClientPolicy: DropMessage})
	opts := quiet()
	opts.Group = &Group{}
	ts := newTestServer(t, Messages(opts), func(ctx *macaron.Context, c *Conn, receiver <-chan string, done <-chan bool) {
		hub.Join("all", c)
		for {
			select {
			case m := <-receiver:
				hub.Publish("all", websocket.TextMessage, []byte(m))
			case <-done:
				return
			}
		}
	})

	// Dial in batches: the listen backlog is finite.
	clients := make([]*websocket.Conn, conns)
	const batch = 100
	for start := 0; start < conns; start += batch {
		var wg sync.WaitGroup
		errs := make(chan error, batch)
		for i := start; i < start+batch && i < conns; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
				ws, _, err := d.Dial(ts.wsURL(), nil)
				if err != nil {
					errs <- err
					return
				}
				clients[i] = ws
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("dial: %v", err)
		}
	}
	testkit.Eventually(t, fmt.Sprintf("%d members", conns), func() bool { return hub.Count("all") == conns })

	// Fan-out: every client counts what it gets.
	const messages = 20
	var delivered atomic.Int64
	var readers sync.WaitGroup
	for _, ws := range clients {
		readers.Add(1)
		go func(ws *websocket.Conn) {
			defer readers.Done()
			ws.SetReadDeadline(time.Now().Add(60 * time.Second))
			for i := 0; i < messages; i++ {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
				delivered.Add(1)
			}
		}(ws)
	}
	for i := 0; i < messages; i++ {
		clients[i%len(clients)].WriteMessage(websocket.TextMessage, []byte(strings.Repeat("m", 64)))
	}
	readers.Wait()
	peakHeap := heapInUse()
	if got, want := delivered.Load(), int64(conns*messages); got != want {
		t.Errorf("deliveries: got %d, want %d (stats %+v)", got, want, hub.Stats())
	}
	t.Logf("%d connections: heap in use %d MiB at peak (%d KiB per connection, both ends), %d goroutines",
		conns, (peakHeap-baseHeap)>>20, (peakHeap-baseHeap)/uint64(conns)>>10, runtime.NumGoroutine())

	for _, ws := range clients {
		ws.Close()
	}
	ts.waitFinished(t, conns)
	ts.Close()
	testkit.Eventually(t, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseGoroutines+5
	})
	clients = nil
	after := heapInUse()
	t.Logf("heap in use after close: %d MiB above the baseline", int64(after-baseHeap)>>20)
	// Pools and the runtime keep a little; a leak would keep most of it.
	if after > baseHeap+(peakHeap-baseHeap)/4 {
		t.Errorf("heap did not come back down: baseline %d, peak %d, after %d bytes", baseHeap, peakHeap, after)
	}
	if s := hub.Stats(); s.Connections != 0 || s.Rooms != 0 {
		t.Errorf("hub after close: got %+v, want empty", s)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
