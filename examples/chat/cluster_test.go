package main

import (
	"fmt"
	"log"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Several chat instances share one NATS server with JetStream, in the test's
// process, as they would share a cluster.

// testLease is the presence lease of the instances in these tests: a
// crashed instance's members leave after it.
const testLease = time.Second

// cluster is a NATS server with JetStream and the instances using it.
type cluster struct {
	nats  *server.Server
	port  int
	store string        // the server's directory
	lease time.Duration // the instances' presence lease
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	s := natstest.StartJetStream(t, -1, dir)
	return &cluster{nats: s, port: natstest.Port(t, s), store: dir, lease: testLease}
}

// instance serves a chat app on the cluster, as name.
func (cl *cluster) instance(t *testing.T, name string) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	return serveApp(t, config{
		Logger:      log.New(logs, name+" ", log.Lmicroseconds),
		NATSURL:     cl.nats.ClientURL(),
		MessageRate: -1, // the tests send faster than people
		Lease:       cl.lease,
		NATSOptions: []nats.Option{ // notice a restarted server quickly
			nats.ReconnectWait(20 * time.Millisecond),
			nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
		},
	}, logs, "instance "+name)
}

// Members on two instances talk to each other: each message reaches every
// other member once, never its sender, and statuses cross too.
func TestClusterMessagesCrossInstances(t *testing.T) {
	cl := newCluster(t)
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	ann := A.join(t, "r", "ann")
	bob := B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	cat := A.join(t, "r", "cat")
	if want := []string{"ann", "bob", "cat"}; !reflect.DeepEqual(cat.members, want) {
		t.Errorf("cat's members: %q, want %q", cat.members, want)
	}
	ann.expect(t, status("cat", "joined"))
	bob.expect(t, status("cat", "joined"))

	ann.say(t, "from A")
	bob.expect(t, msg("ann", "from A"))
	cat.expect(t, msg("ann", "from A"))
	bob.say(t, "from B")
	ann.expect(t, msg("bob", "from B")) // not its own "from A" first
	cat.expect(t, msg("bob", "from B"))
	cat.say(t, "sync")
	ann.expect(t, msg("cat", "sync"))
	bob.expect(t, msg("cat", "sync")) // not its own "from B"

	bob.leave()
	ann.expect(t, status("bob", "left"))
	cat.expect(t, status("bob", "left"))
}

// Messages said at the same moment on two instances come out in one order,
// the same for every member and in every joiner's history.
func TestClusterOneOrderForEveryone(t *testing.T) {
	cl := newCluster(t)
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	ann, bob := A.join(t, "r", "ann"), B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	watchA, watchB := A.join(t, "r", "wa"), B.join(t, "r", "wb")
	watchA.expect(t, status("wb", "joined"))
	const n = 20
	var wg sync.WaitGroup
	for _, c := range []*client{ann, bob} {
		wg.Go(func() {
			for i := range n {
				c.sendFrame(Message{Typ: typMessage, Text: fmt.Sprintf("%s %d", c.name, i)})
			}
		})
	}
	wg.Wait()
	read := func(c *client) []Message {
		var got []Message
		for len(got) < 2*n {
			if m := c.mustNext(t); m.Typ == typMessage {
				got = append(got, m)
			}
		}
		return got
	}
	onA, onB := read(watchA), read(watchB)
	if !reflect.DeepEqual(onA, onB) {
		t.Fatalf("the watchers on A and B saw different orders:\nA %v\nB %v", onA, onB)
	}
	for i, ts := range []*testServer{A, B} {
		late := ts.join(t, "r", fmt.Sprint("late", i))
		if len(late.history) != 2*n {
			t.Fatalf("a joiner got %d history frames, want %d", len(late.history), 2*n)
		}
		for i, m := range late.history {
			if m.From != onA[i].From || m.Text != onA[i].Text {
				t.Fatalf("history[%d] = %+v, want %+v (the live order)", i, m, onA[i])
			}
		}
	}
}

// The history is in the stream, not in the instances: it is all there
// after every instance has restarted.
func TestClusterHistorySurvivesEveryInstance(t *testing.T) {
	cl := newCluster(t)
	A := cl.instance(t, "A")
	ann := A.join(t, "r", "ann")
	ann.say(t, "one")
	B := cl.instance(t, "B")
	bob := B.join(t, "r", "bob")
	bob.say(t, "two")
	ann.expect(t, status("bob", "joined"))
	ann.expect(t, msg("bob", "two"))
	ann.close()
	bob.close()
	A.Close()
	A.app.Close()
	B.Close()
	B.app.Close()

	C := cl.instance(t, "C")
	cat := C.join(t, "r", "cat")
	want := []Message{{Typ: typHistory, From: "ann", Text: "one"}, {Typ: typHistory, From: "bob", Text: "two"}}
	if !reflect.DeepEqual(cat.history, want) {
		t.Errorf("history after every instance restarted: %+v, want %+v", cat.history, want)
	}
}

// A page that lost its connection comes back on another instance since
// the last position it saw: it gets the members, then exactly what was said
// meanwhile, then live messages. From a position the history no longer
// holds, it is told, and gets the history again.
func TestClusterResumeOnAnotherInstance(t *testing.T) {
	cl := newCluster(t)
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	ann := A.join(t, "r", "ann")
	bob := A.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	ann.say(t, "before")
	bob.expect(t, msg("ann", "before"))
	since := bob.pos
	bob.close()
	ann.expect(t, status("bob", "left"))
	ann.say(t, "missed 1")
	ann.say(t, "missed 2")

	back := B.joinSince(t, "r", "bob", since)
	back.expect(t, msg("ann", "missed 1"))
	back.expect(t, msg("ann", "missed 2"))
	ann.say(t, "live")
	back.expect(t, msg("ann", "live"))

	// A position from another history (an epoch of its own).
	other := B.joinSince(t, "r", "cat", "someotherepoch:1")
	if len(other.resets) != 1 || len(other.history) != 4 {
		t.Errorf("cat from a foreign position: %d resets, %d history frames, want 1 and 4", len(other.resets), len(other.history))
	}
}

// Two members taking one name in one room at the same moment, on two
// instances: one gets in, the other gets 409; and the name is free again,
// everywhere, once its holder leaves.
func TestClusterNameHeldOnce(t *testing.T) {
	cl := newCluster(t)
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	for round := range 3 {
		name := fmt.Sprint("zed", round)
		won, statuses := dialAtOnce(t, []*testServer{A, B}, "r", name, 6)
		if won != 1 {
			t.Fatalf("%d of 6 simultaneous joins as %s on A and B succeeded: %v", won, name, statuses)
		}
	}
	ann := A.join(t, "r", "ann")
	if _, status, _, err := B.dial("r", "ann"); err == nil || status != http.StatusConflict {
		t.Fatalf("ann on B while on A: %d, want 409", status)
	}
	ann.leave()
	awaitNameFree(t, B, "r", "ann", "ann free on B")
}

// An instance that crashes (its NATS connection gone, nothing released)
// loses its members everywhere within the lease, and their names are free.
func TestClusterCrashedInstanceMembersLeave(t *testing.T) {
	cl := newCluster(t)
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	bob := B.join(t, "r", "bob")
	A.join(t, "r", "ann")
	bob.expect(t, status("ann", "joined"))
	start := time.Now()
	A.app.stores.nc.Close() // no release, no renewal
	bob.expect(t, status("ann", "left"))
	if d := time.Since(start); d > 3*testLease {
		t.Errorf("ann left %v after A crashed, want within about the lease (%v)", d, testLease)
	}
	awaitNameFree(t, B, "r", "ann", "ann free on B")
}

// The lobby lists the rooms of every instance, with every instance's
// members counted.
func TestClusterLobby(t *testing.T) {
	cl := newCluster(t)
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	A.join(t, "alpha", "ann")
	B.join(t, "alpha", "bob")
	B.join(t, "beta", "cat")
	for _, ts := range []*testServer{A, B} {
		_, page := get(t, ts.URL+"/")
		if !strings.Contains(page, `alpha</span> <span class="count">2 people`) || !strings.Contains(page, `beta</span> <span class="count">1 person`) {
			t.Errorf("the lobby of %s:\n%s", ts.app.log.Prefix(), page)
		}
	}
}

// NATS stops: every member is told that messages cannot be stored; a
// message said meanwhile is refused to its sender, and no one gets it. NATS comes back with its files: messages flow again, on
// both instances, and the history holds what was stored.
func TestClusterNATSOutage(t *testing.T) {
	cl := newCluster(t)
	cl.lease = time.Minute // the names outlive the outage
	A, B := cl.instance(t, "A"), cl.instance(t, "B")
	ann := A.join(t, "r", "ann")
	bob := B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	ann.say(t, "before")
	bob.expect(t, msg("ann", "before"))

	natstest.Stop(cl.nats)
	// Every member hears that messages cannot be stored for now.
	ann.expect(t, Message{Typ: typStorage, Text: "unavailable"})
	bob.expect(t, Message{Typ: typStorage, Text: "unavailable"})
	ann.say(t, "lost?")
	if m := ann.mustNext(t); m.Typ != typError || !strings.Contains(m.Text, "not sent") || !strings.Contains(m.Text, "lost?") {
		t.Fatalf("ann's message during the outage: got %+v, want an error frame saying it was not sent", m)
	}

	cl.nats = natstest.StartJetStream(t, cl.port, cl.store)
	ann.expect(t, Message{Typ: typStorage, Text: "available"})
	bob.expect(t, Message{Typ: typStorage, Text: "available"})
	// The handler answers frames in order: ann's message, then a probe;
	// no error before the probe's answer means the message was stored.
	attempt := 0
	testkit.EventuallyNoError(t, "a message stored after the outage", func() error {
		attempt++
		ann.say(t, fmt.Sprint("after ", attempt))
		ann.sendFrame(Message{Typ: probeTyp})
		var refused error
		for {
			m := ann.mustNext(t)
			if strings.Contains(m.Text, probeTyp) {
				return refused
			}
			refused = fmt.Errorf("%+v", m)
		}
	})
	bob.expect(t, msg("ann", fmt.Sprint("after ", attempt)))
	bob.say(t, "and back")
	ann.expect(t, msg("bob", "and back"))
	cat := A.join(t, "r", "cat")
	if n := len(cat.history); n != 3 {
		t.Errorf("history after the outage: %d messages, want 3 (before, after %d, and back): %+v", n, attempt, cat.history)
	}
}

// Credentials never go in -nats: a URL with a password or a token is
// refused, without being repeated; they come from the environment.
func TestNATSCredentialsStayOffTheCommandLine(t *testing.T) {
	for _, url := range []string{"nats://u:secret@127.0.0.1:4222", "nats://secret@127.0.0.1:4222", "nats://127.0.0.1:4222,nats://u:secret@127.0.0.1:4223"} {
		_, err := newApp(config{NATSURL: url, Logger: log.New(&syncBuffer{}, "", 0)})
		if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "NATS_PASSWORD") {
			t.Errorf("-nats %s: %v, want a refusal that names the environment and not the secret", url, err)
		}
	}
	cfg, _ := parseFlags(nil, env{"NATS_USER": "u", "NATS_PASSWORD": "p", "NATS_URL": "nats://h:1"}.get)
	if cfg.NATSURL != "nats://h:1" || len(cfg.NATSOptions) != 1 {
		t.Errorf("from the environment: URL %q, %d options, want nats://h:1 and the user's", cfg.NATSURL, len(cfg.NATSOptions))
	}
	var o nats.Options
	cfg.NATSOptions[0](&o)
	if o.User != "u" || o.Password != "p" {
		t.Errorf("credentials from the environment: %q %q", o.User, o.Password)
	}
}

// env is an environment for parseFlags.
type env map[string]string

func (e env) get(k string) string { return e[k] }
