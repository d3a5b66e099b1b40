package sockets

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// A client that vanishes in the middle of a message, with a TCP reset.
func TestClientResetMidMessage(t *testing.T) {
	errs := make(chan error, 1)
	ts := newTestServer(t, Messages(quiet()), func(done <-chan bool, e <-chan error) {
		<-done
		errs <- <-e
	})
	ws := ts.dial(t, nil)
	w, err := ws.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(strings.Repeat("partial", 2000))) // flushes whole frames, no final one
	tcp := ws.NetConn().(*net.TCPConn)
	tcp.SetLinger(0) // close sends RST
	tcp.Close()
	if err := recv(t, errs, "error"); !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("got %v, want connection lost", err)
	}
	ts.waitFinished(t, 1)
}

func TestHalfOpenConnectionDetectedWithinPongWait(t *testing.T) {
	opts := quiet()
	opts.PongWait = 400 * time.Millisecond
	opts.PingPeriod = 100 * time.Millisecond
	doneAt := make(chan time.Time, 1)
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) {
		<-done
		doneAt <- time.Now()
	})
	hole := testkit.NewProxy(t, ts.Listener.Addr().String())
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	ws, _, err := d.Dial("ws://"+hole.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	go func() { // keep answering pings until the cut
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(2 * opts.PongWait) // alive across several PongWaits while forwarded
	select {
	case <-doneAt:
		t.Fatal("connection dropped while pings were answered")
	default:
	}
	hole.Silence()
	cut := time.Now()
	if d := recv(t, doneAt, "done").Sub(cut); d > opts.PongWait+time.Second {
		t.Errorf("half-open connection detected after %v, want within PongWait (%v)", d, opts.PongWait)
	}
	ts.waitFinished(t, 1)
}

// A client that never reads: the handler's sends block (backpressure, not
// memory), then the write deadline expires and the connection closes.
func TestWriteDeadlineExpiryWithClientThatNeverReads(t *testing.T) {
	opts := quiet()
	opts.WriteWait = 200 * time.Millisecond
	errs := make(chan error, 1)
	sent := make(chan int, 1)
	ts := newTestServer(t, Messages(opts), func(sender chan<- string, done <-chan bool, e <-chan error) {
		chunk := strings.Repeat("x", 64<<10)
		n := 0
		for {
			select {
			case sender <- chunk:
				n++
			case err := <-e: // the write failed: what was sent until now
				sent <- n
				errs <- err
				<-done
				return
			}
		}
	})
	ws := ts.dial(t, nil)
	_ = ws // never reads
	n := recv(t, sent, "the write error")
	if err := recv(t, errs, "error"); !strings.Contains(err.Error(), "write") {
		t.Errorf("got %v, want a write failure", err)
	}
	// What the handler could send is bounded by the socket buffers and the
	// sender channel, not by the server's memory.
	t.Logf("sent %d chunks of 64 KiB before the deadline", n)
	if n > 2000 {
		t.Errorf("handler sent %d chunks (%d MiB) into a client that never reads", n, n/16)
	}
	ts.waitFinished(t, 1)
}

// A client floods frames faster than the handler reads: the reader stops
// at the receiver's buffer, TCP pushes back, the server's memory stays
// bounded, and every message arrives in order once the handler reads.
func TestFloodingClientIsBoundedByBackpressure(t *testing.T) {
	startReading := make(chan struct{})
	got := make(chan int, 1)
	const n = 1000
	ts := newTestServer(t, Messages(quiet()), func(receiver <-chan string, done <-chan bool) {
		<-startReading
		i := 0
		for ; i < n; i++ {
			select {
			case m := <-receiver:
				if !strings.HasPrefix(m, fmt.Sprintf("%d:", i)) {
					got <- -i
					<-done
					return
				}
			case <-done:
				got <- i
				return
			}
		}
		got <- i
		<-done
	})
	ws := ts.dial(t, nil)
	base := heapInUse()
	var written atomic.Int64
	go func() {
		payload := strings.Repeat("f", 32<<10)
		for i := 0; i < n; i++ {
			ws.SetWriteDeadline(time.Now().Add(2 * waitTimeout))
			if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("%d:%s", i, payload))); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	// Wait until the client is stuck: nothing written for a while.
	var last int64 = -1
	testkit.Eventually(t, "the client to be pushed back", func() bool {
		w := written.Load()
		stuck := w == last && w > 0
		last = w
		time.Sleep(50 * time.Millisecond)
		return stuck
	})
	grown := int64(heapInUse()) - int64(base)
	t.Logf("client pushed back after %d of %d messages (%d MiB); server heap grew %d KiB", written.Load(), n, written.Load()/32, grown>>10)
	if written.Load() == n {
		t.Fatal("the client wrote everything: no backpressure")
	}
	if grown > 8<<20 {
		t.Errorf("heap grew %d bytes while flooded, want under 8 MiB", grown)
	}
	close(startReading)
	if i := recv(t, got, "all messages"); i != n {
		t.Errorf("handler read %d messages in order, want %d", i, n)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestFragmentedMessages(t *testing.T) {
	opts := quiet()
	opts.MaxMessageSize = 20000
	ts := newTestServer(t, Messages(opts), echoStrings)
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, WriteBufferSize: 256} // many continuation frames
	ws, _, err := d.Dial(ts.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	msg := strings.Repeat("fragment ", 1500) // 13500 bytes in ~55 frames
	w, _ := ws.NextWriter(websocket.TextMessage)
	for i := 0; i < len(msg); i += 100 {
		w.Write([]byte(msg[i:min(i+100, len(msg))]))
	}
	w.Close()
	if _, got := readText(t, ws); got != msg {
		t.Errorf("reassembled: got %d bytes, want %d", len(got), len(msg))
	}
	// Fragments adding up past the limit close with 1009.
	w, _ = ws.NextWriter(websocket.TextMessage)
	for i := 0; i < 300; i++ {
		if _, err := w.Write([]byte(strings.Repeat("y", 100))); err != nil {
			break
		}
	}
	w.Close()
	if got := readClose(t, ws); got != websocket.CloseMessageTooBig {
		t.Errorf("close code: got %d, want 1009", got)
	}
	ts.waitFinished(t, 1)
}

// A burst of upgrade attempts from one client does not starve another: a
// handshake costs the server one short-lived goroutine, and nothing is
// queued behind it. (There is no per-IP limit; put one in front, in a
// proxy or a Macaron handler before the binding, if you need it.)
func TestUpgradeBurstDoesNotStarveOthers(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), echoStrings)
	const burst = 2000
	var wg sync.WaitGroup
	var attempts, upgraded atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempts.Add(1) <= burst {
				if attempts.Load()%2 == 0 { // a bad key: 400
					req, _ := http.NewRequest(http.MethodGet, ts.URL+"/ws", nil)
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set("Upgrade", "websocket")
					req.Header.Set("Sec-WebSocket-Version", "13")
					req.Header.Set("Sec-WebSocket-Key", "bad")
					if resp, err := ts.Client().Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				} else if ws, _, err := ts.tryDial(nil); err == nil { // upgraded, dropped at once
					upgraded.Add(1)
					ws.Close()
				}
			}
		}()
	}
	testkit.Eventually(t, "the burst to be under way", func() bool { return attempts.Load() > burst/4 })
	start := time.Now()
	ws, _, err := ts.tryDial(nil)
	if err != nil {
		t.Fatalf("dial during the burst: %v", err)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("me too"))
	if _, got := readText(t, ws); got != "me too" {
		t.Errorf("got %q", got)
	}
	served := time.Since(start)
	ws.Close()
	during := attempts.Load()
	wg.Wait()
	t.Logf("a fresh client was served in %v, with %d of %d burst attempts made by then", served, during, burst)
	if served > 2*time.Second {
		t.Errorf("a fresh client waited %v during the burst", served)
	}
	ts.waitFinished(t, int(upgraded.Load())+1)
}

// Closing a connection whose writer is stuck on a client that never reads
// takes about the close grace, not WriteWait: the closer aborts the write.
func TestCloseAbortsAStuckWriter(t *testing.T) {
	opts := quiet() // WriteWait 60s
	conns := make(chan *Conn, 1)
	doneAt := make(chan time.Time, 1)
	ts := newTestServer(t, Messages(opts), func(c *Conn, sender chan<- string, done <-chan bool) {
		conns <- c
		chunk := strings.Repeat("s", 64<<10)
		for {
			select {
			case sender <- chunk:
			case <-done:
				doneAt <- time.Now()
				return
			}
		}
	})
	ws := ts.dial(t, nil)
	_ = ws // never reads
	c := recv(t, conns, "conn")
	testkit.Eventually(t, "the writer to be stuck", func() bool {
		return goroutinesIn("(*netConn).release(") == 1 || goroutinesIn("(*netConn).flushLocked(") == 1
	})
	start := time.Now()
	c.Close(websocket.ClosePolicyViolation, "slow client")
	prepared, _ := prepareOptions([]*Options{opts})
	grace := prepared.closeGrace()
	if d := recv(t, doneAt, "done").Sub(start); d > grace+2*time.Second {
		t.Errorf("closing a stuck connection took %v, want about the close grace (%v), not WriteWait", d, grace)
	}
	ts.waitFinished(t, 1)
}
