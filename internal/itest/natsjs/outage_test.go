package natsjs_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// followLog collects what a follower delivers.
type followLog struct {
	mu   sync.Mutex
	recs []sockets.Record
}

func (l *followLog) add(r sockets.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
}

func (l *followLog) get() []sockets.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sockets.Record(nil), l.recs...)
}

func ids(recs []sockets.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// TestHistoryOutage stops the NATS server while appends are going on and
// starts it again on the same port and files. Appends fail while it is
// down, with nothing left to be stored later; every append that succeeded
// is there after the restart, at its position; the history, its epoch and
// its de-duplication survive, also for handles made after the restart;
// an append retried with its id is stored once; and a follower resumes
// with what was stored after the restart, once each.
func TestHistoryOutage(t *testing.T) {
	dir := t.TempDir()
	s := natstest.StartJetStream(t, -1, dir)
	port := natstest.Port(t, s)
	url := s.ClientURL()
	ncA, ncB := dial(t, url), dial(t, url)
	// An append in flight when the server goes waits for its answer until
	// Timeout.
	opts := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Timeout: time.Second}
	a, b := newHistory(t, ncA, opts), newHistory(t, ncB, opts)
	followed := &followLog{}
	stop, err := b.Follow("r", followed.add)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	var before []sockets.Position
	for i := range 3 {
		p, err := a.Append(ctxT(t), "r", sockets.TextMessage, fmt.Appendf(nil, "m%d", i), fmt.Sprint("m", i))
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, p)
	}
	testkit.Eventually(t, "the follower got 3 records", func() bool { return len(followed.get()) == 3 })

	// A writer appends to room w until the server has gone, and some more.
	acked := map[string]sockets.Position{} // what Append said it stored
	var failed []error
	writerDone := make(chan struct{})
	serverDown := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < 900; i++ {
			id := fmt.Sprint("w", i)
			p, err := a.Append(ctxT(t), "w", sockets.TextMessage, []byte(id), id)
			if err == nil {
				acked[id] = p
				time.Sleep(time.Millisecond) // the outage comes within the 900
				continue
			}
			failed = append(failed, err)
			select {
			case <-serverDown:
				if len(failed) >= 5 {
					return
				}
			default:
			}
		}
	}()
	testkit.Eventually(t, "the writer under way", func() bool {
		recs, _ := b.Read(ctxT(t), "w", sockets.Position{}, 0)
		return len(recs) >= 20
	})
	natstest.Stop(s)
	close(serverDown)
	testkit.Eventually(t, "both clients saw the server go", func() bool { return !ncA.IsConnected() && !ncB.IsConnected() })
	<-writerDone
	if len(failed) == 0 {
		t.Fatal("no append failed while the server was down")
	}
	t.Logf("%d appends acknowledged before the server went, %d failed; the last: %v", len(acked), len(failed), failed[len(failed)-1])

	// While down: at once, and nothing stored.
	start := time.Now()
	_, err = a.Append(ctxT(t), "r", sockets.TextMessage, []byte("down"), "down-1")
	if !errors.Is(err, natsjs.ErrNotConnected) || time.Since(start) > time.Second {
		t.Fatalf("Append while down: %v after %v, want ErrNotConnected at once", err, time.Since(start))
	}
	if _, err := b.Read(ctxT(t), "r", sockets.Position{}, 0); !errors.Is(err, natsjs.ErrNotConnected) {
		t.Fatalf("Read while down: %v, want ErrNotConnected", err)
	}

	natstest.StartJetStream(t, port, dir)
	testkit.Eventually(t, "both clients reconnected", func() bool { return ncA.IsConnected() && ncB.IsConnected() })

	// Every append acknowledged is there, at its position.
	recs, err := b.Read(ctxT(t), "w", sockets.Position{}, 0)
	if err != nil {
		t.Fatalf("Read after the restart: %v", err)
	}
	kept := map[string]sockets.Position{}
	for _, r := range recs {
		kept[r.ID] = r.Pos
	}
	for id, p := range acked {
		if kept[id] != p {
			t.Fatalf("%s was acknowledged at %v; after the restart it is at %v", id, p, kept[id])
		}
	}

	// The history, with its epoch and positions.
	recs, err = a.Read(ctxT(t), "r", sockets.Position{}, 0)
	if err != nil || len(recs) != 3 || recs[0].Pos != before[0] || recs[2].Pos != before[2] {
		t.Fatalf("Read after the restart: %v, %v, want m0 to m2 at %v", err, ids(recs), before)
	}
	if recs, err := b.Read(ctxT(t), "r", before[0], 0); err != nil || len(recs) != 2 {
		t.Fatalf("recovery from m0 after the restart: %v, %v", err, ids(recs))
	}
	// The failed append, retried on both: stored once.
	p1, err1 := a.Append(ctxT(t), "r", sockets.TextMessage, []byte("down"), "down-1")
	p2, err2 := b.Append(ctxT(t), "r", sockets.TextMessage, []byte("down"), "down-1")
	if err1 != nil || err2 != nil || p1 != p2 {
		t.Fatalf("the retried append: %v %v, %v %v", p1, err1, p2, err2)
	}
	// An id stored before the outage is still known.
	if p, err := b.Append(ctxT(t), "r", sockets.TextMessage, []byte("m1"), "m1"); err != nil || p != before[1] {
		t.Fatalf("m1 again after the restart: %v, %v, want %v", p, err, before[1])
	}

	// Handles made after the restart: the same history.
	c := newHistory(t, dial(t, url), opts)
	if c.Epoch() != before[0].Epoch {
		t.Fatalf("epoch after the restart %q, was %q", c.Epoch(), before[0].Epoch)
	}
	recs, err = c.Read(ctxT(t), "r", before[2], 0)
	if err != nil || len(recs) != 1 || recs[0].ID != "down-1" || recs[0].Pos != p1 {
		t.Fatalf("a new handle reads from m2: %v, %v", err, ids(recs))
	}

	// The follower resumed: down-1 once, then what comes next.
	if _, err := c.Append(ctxT(t), "r", sockets.TextMessage, []byte("after"), "after"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the follower resumed", func() bool { return len(followed.get()) >= 5 })
	got := ids(followed.get())
	if fmt.Sprint(got) != "[m0 m1 m2 down-1 after]" {
		t.Fatalf("the follower got %v", got)
	}
}

// TestPresenceOutage stops the NATS server for less than the lease.
// Members answers at once with what it last knew, marked stale; claims
// fail; once the server is back, the members are as before, their claims
// renewed, none lost.
func TestPresenceOutage(t *testing.T) {
	const lease = 3 * time.Second
	dir := t.TempDir()
	s := natstest.StartJetStream(t, -1, dir)
	port := natstest.Port(t, s)
	url := s.ClientURL()
	ncA, ncB := dial(t, url), dial(t, url)
	opts := &natsjs.PresenceOptions{PresenceOptions: sockets.PresenceOptions{Lease: lease}}
	a, b := newPresence(t, ncA, opts), newPresence(t, ncB, opts)
	alice, err := a.Claim(ctxT(t), "r", "alice", []byte("A"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctxT(t), "r", "bob", []byte("B")); err != nil {
		t.Fatal(err)
	}
	was, err := b.Members(ctxT(t), "r")
	if err != nil || len(was) != 2 {
		t.Fatalf("Members: %v, %+v", err, was)
	}

	natstest.Stop(s)
	down := time.Now()
	testkit.Eventually(t, "both clients saw the server go", func() bool { return !ncA.IsConnected() && !ncB.IsConnected() })
	start := time.Now()
	ms, err := b.Members(ctxT(t), "r")
	if !errors.Is(err, sockets.ErrStale) || len(ms) != 2 || ms[0].Key != "alice" || string(ms[1].Info) != "B" || time.Since(start) > time.Second {
		t.Fatalf("Members while down: %v, %+v after %v, want the last known with ErrStale at once", err, ms, time.Since(start))
	}
	if ms, err := b.Members(ctxT(t), "never read"); !errors.Is(err, sockets.ErrStale) || len(ms) != 0 {
		t.Fatalf("Members of a room never read while down: %v, %+v", err, ms)
	}
	if _, err := a.Claim(ctxT(t), "r", "carol", nil); !errors.Is(err, natsjs.ErrNotConnected) {
		t.Fatalf("Claim while down: %v, want ErrNotConnected", err)
	}

	natstest.StartJetStream(t, port, dir)
	t.Cleanup(func() { a.Close(); b.Close() }) // before the server stops
	testkit.Eventually(t, "both clients reconnected", func() bool { return ncA.IsConnected() && ncB.IsConnected() })
	if d := time.Since(down); d > lease*2/3 {
		t.Logf("the outage lasted %v, a lease is %v: the claims may have expired", d, lease)
	}
	testkit.EventuallyNoError(t, "fresh members", func() error {
		ms, err := b.Members(ctxT(t), "r")
		if err != nil {
			return err
		}
		if len(ms) != 2 || !ms[0].Since.Equal(was[0].Since) || !ms[1].Since.Equal(was[1].Since) {
			return fmt.Errorf("members %+v, were %+v", ms, was)
		}
		return nil
	})
	// A lease later, the claims were renewed: still there, none lost.
	time.Sleep(lease + lease/3)
	if ms, err := a.Members(ctxT(t), "r"); err != nil || len(ms) != 2 {
		t.Fatalf("a lease after the outage: %v, %+v", err, ms)
	}
	select {
	case <-alice.Lost():
		t.Fatal("a claim was lost to a short outage")
	default:
	}
}

// TestPresenceLongOutage stops the NATS server for longer than the lease:
// the claims are Lost on their instance, expired on the server when it is
// back, and a watcher of the room sees them leave once it has resumed.
func TestPresenceLongOutage(t *testing.T) {
	const lease = time.Second
	dir := t.TempDir()
	s := natstest.StartJetStream(t, -1, dir)
	port := natstest.Port(t, s)
	url := s.ClientURL()
	ncA, ncB := dial(t, url), dial(t, url)
	opts := &natsjs.PresenceOptions{PresenceOptions: sockets.PresenceOptions{Lease: lease}}
	a, b := newPresence(t, ncA, opts), newPresence(t, ncB, opts)
	events := &eventLog{}
	stop, err := b.Watch("r", events.add)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	alice, err := a.Claim(ctxT(t), "r", "alice", []byte("A"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the join", func() bool { return len(events.get()) == 1 })

	natstest.Stop(s)
	down := time.Now()
	select {
	case <-alice.Lost():
		t.Logf("Lost %v after the server went (lease %v)", time.Since(down).Round(time.Millisecond), lease)
	case <-time.After(lease + lease/3 + time.Second):
		t.Fatalf("the claim was not Lost within %v of the outage", lease+lease/3+time.Second)
	}

	natstest.StartJetStream(t, port, dir)
	t.Cleanup(func() { a.Close(); b.Close() }) // before the server stops
	back := time.Now()
	testkit.Eventually(t, "both clients reconnected", func() bool { return ncA.IsConnected() && ncB.IsConnected() })
	testkit.EventuallyNoError(t, "alice expired", func() error {
		ms, err := b.Members(ctxT(t), "r")
		if err != nil || len(ms) != 0 {
			return fmt.Errorf("members %+v: %v", ms, err)
		}
		return nil
	})
	testkit.Eventually(t, "the watcher saw alice leave", func() bool { return len(events.get()) == 2 })
	t.Logf("the watcher saw the leave %v after the server was back", time.Since(back).Round(time.Millisecond))
	if ev := events.get()[1]; !ev.Left || ev.Key != "alice" || string(ev.Info) != "A" {
		t.Fatalf("the watcher's second event: %+v", ev)
	}
	// The key is free again.
	if _, err := b.Claim(ctxT(t), "r", "alice", []byte("B's alice")); err != nil {
		t.Fatalf("claim after the expiry: %v", err)
	}
}
