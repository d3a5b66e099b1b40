package natsjs_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// readN reads n frames of ws: their numbers and positions.
func readN(t *testing.T, ws *websocket.Conn, n int) ([]int, []sockets.Position) {
	t.Helper()
	var ns []int
	var ps []sockets.Position
	for range n {
		f, pos := next(t, ws)
		ns = append(ns, f.N)
		ps = append(ps, pos)
	}
	return ns, ps
}

// publishN publishes {"n":from} to {"n":to-1} to room through in's hub,
// each acknowledged by the store.
func publishN(t *testing.T, in *instance, room string, from, to int) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := in.hub.Publish(room, sockets.TextMessage, fmt.Appendf(nil, `{"n":%d}`, n)); err != nil {
			t.Fatalf("Publish n=%d: %v", n, err)
		}
	}
}

// The history survives a restart of every instance and of the NATS server
// (file storage): two instances take messages, then both stop, and so
// does the server; once it is back, two new instances, with new
// connections and stores, give a newcomer the same history at the same
// positions, and a client that comes back since a position it saw before
// the restart exactly what followed it, then the live messages.
func TestHistorySurvivesRestartOfEverything(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.StartJetStream(t, -1, dir)
	port := natstest.Port(t, srv)
	url := srv.ClientURL()
	opts := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 100}, Stream: uniqueName("RESTART"), SubjectPrefix: uniqueName("restart")}
	a, b := newInstance(t, url, opts), newInstance(t, url, opts)
	member := b.join(t, "r", sockets.Position{})
	testkit.Eventually(t, "the member joined", func() bool { return b.hub.Count("r") == 1 })
	publishN(t, a, "r", 0, 10)
	publishN(t, b, "r", 10, 20)
	ns, ps := readN(t, member, 20)
	for i, n := range ns {
		if n != i {
			t.Fatalf("before the restart, message %d is n=%d", i, n)
		}
	}

	a.stop(t)
	b.stop(t)
	natstest.Stop(srv)
	natstest.StartJetStream(t, port, dir)
	c, d := newInstance(t, url, opts), newInstance(t, url, opts)

	newcomer := c.join(t, "r", sockets.Position{})
	gotN, gotP := readN(t, newcomer, 20)
	for i := range gotN {
		if gotN[i] != ns[i] || gotP[i] != ps[i] {
			t.Fatalf("after the restart, history %d is n=%d at %v; before, n=%d at %v", i, gotN[i], gotP[i], ns[i], ps[i])
		}
	}
	back := d.join(t, "r", ps[11])
	testkit.Eventually(t, "every client joined", func() bool { return c.hub.Count("r") == 1 && d.hub.Count("r") == 1 })
	publishN(t, c, "r", 20, 25)
	gotN, gotP = readN(t, back, 13)
	for i, n := range gotN {
		if n != 12+i {
			t.Fatalf("since n=11 after the restart, message %d is n=%d at %v, want n=%d", i, n, gotP[i], 12+i)
		}
		if i < 8 && gotP[i] != ps[12+i] {
			t.Fatalf("n=%d at %v after the restart, at %v before", n, gotP[i], ps[12+i])
		}
	}
	if gotN, _ := readN(t, newcomer, 5); gotN[0] != 20 || gotN[4] != 24 {
		t.Fatalf("the newcomer's live messages: %v, want 20 to 24", gotN)
	}
}

// NATS stopped under two instances: Publish to a room with history fails
// at once, with an error the app can tell its sender, and the failed
// messages reach no one, then or later. NATS back: what was acknowledged
// before is there, the instances' members get the new messages with no
// duplicate, and a client resuming since a position from before the
// outage gets exactly what followed it.
func TestHubPublishThroughOutage(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.StartJetStream(t, -1, dir)
	port := natstest.Port(t, srv)
	url := srv.ClientURL()
	opts := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 100}, Stream: uniqueName("OUT"), SubjectPrefix: uniqueName("out"), Timeout: time.Second}
	a, b := newInstance(t, url, opts), newInstance(t, url, opts)
	onA, onB := a.join(t, "r", sockets.Position{}), b.join(t, "r", sockets.Position{})
	testkit.Eventually(t, "the members joined", func() bool { return a.hub.Count("r") == 1 && b.hub.Count("r") == 1 })
	publishN(t, a, "r", 0, 5)
	_, before := readN(t, onB, 5)
	readN(t, onA, 5)

	natstest.Stop(srv)
	testkit.Eventually(t, "both instances saw NATS go", func() bool { return !a.nc.IsConnected() && !b.nc.IsConnected() })
	for n := 100; n < 105; n++ {
		start := time.Now()
		err := a.hub.Publish("r", sockets.TextMessage, fmt.Appendf(nil, `{"n":%d}`, n))
		if !errors.Is(err, natsjs.ErrNotConnected) || time.Since(start) > time.Second {
			t.Fatalf("Publish while NATS is down: %v after %v, want an error wrapping ErrNotConnected at once", err, time.Since(start))
		}
	}
	if s := a.hub.Stats(); s.StoreErrors != 5 {
		t.Fatalf("store errors %d, want the 5 failed publishes", s.StoreErrors)
	}

	natstest.StartJetStream(t, port, dir)
	testkit.Eventually(t, "both instances reconnected", func() bool { return a.nc.IsConnected() && b.nc.IsConnected() })
	testkit.EventuallyNoError(t, "the stream readable", func() error {
		_, err := a.store.Read(ctxT(t), "r", sockets.Position{}, 0)
		return err
	})
	publishN(t, b, "r", 5, 10)
	for name, ws := range map[string]*websocket.Conn{"a": onA, "b": onB} {
		ns, ps := readN(t, ws, 5)
		for i, n := range ns {
			if n != 5+i || ps[i].Offset <= before[4].Offset {
				t.Fatalf("the member on %s after the outage: message %d is n=%d at %v, want n=%d after %v", name, i, n, ps[i], 5+i, before[4])
			}
		}
	}
	back := b.join(t, "r", before[1])
	ns, _ := readN(t, back, 8)
	for i, n := range ns {
		if n != 2+i {
			t.Fatalf("since n=1, from before the outage: message %d is n=%d, want %d", i, n, 2+i)
		}
	}
	// Nothing more came: the failed messages are nowhere, not duplicated.
	publishN(t, a, "r", 10, 11)
	for name, ws := range map[string]*websocket.Conn{"a": onA, "b": onB, "resumed": back} {
		if f, _ := next(t, ws); f.N != 10 {
			t.Fatalf("the member on %s: next message n=%d, want 10", name, f.N)
		}
	}
	recs, err := b.store.Read(ctxT(t), "r", sockets.Position{}, 0)
	if err != nil || len(recs) != 11 {
		t.Fatalf("kept: %v, %d records, want the 11 acknowledged", err, len(recs))
	}
}
