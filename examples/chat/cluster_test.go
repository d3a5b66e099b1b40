package main

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/internal/testkit/natstest"
	"github.com/nats-io/nats.go"
)

// Two instances, A and B, share their rooms through one NATS server. As in
// protocol_test.go, a frame that must not arrive is checked with a later one
// that must: each instance queues a member's frames in order, and one
// instance's events reach another in the order they were published.

func TestClusterMessagesAndStatusesCrossInstances(t *testing.T) {
	_, A, B := newCluster(t)
	ann := A.join(t, "r", "ann")
	bob := B.join(t, "r", "bob")
	if want := []string{"ann", "bob"}; !reflect.DeepEqual(bob.members, want) {
		t.Errorf("bob's members on B: %q, want %q", bob.members, want)
	}
	ann.expect(t, status("bob", "joined"))
	cat := A.join(t, "r", "cat")
	if want := []string{"ann", "bob", "cat"}; !reflect.DeepEqual(cat.members, want) {
		t.Errorf("cat's members on A: %q, want %q", cat.members, want)
	}
	ann.expect(t, status("cat", "joined"))
	bob.expect(t, status("cat", "joined"))

	ann.say(t, "hi from A")
	bob.expect(t, msg("ann", "hi from A"))
	cat.expect(t, msg("ann", "hi from A"))
	bob.say(t, "hi from B")
	ann.expect(t, msg("bob", "hi from B")) // not her own "hi from A"
	cat.expect(t, msg("bob", "hi from B"))
	cat.say(t, "sync")
	bob.expect(t, msg("cat", "sync")) // not his own "hi from B"
	ann.expect(t, msg("cat", "sync"))

	bob.leave()
	ann.expect(t, status("bob", "left"))
	cat.expect(t, status("bob", "left"))

	// A connection lost without a close frame leaves too, on the others.
	dan := B.join(t, "r", "dan")
	if want := []string{"ann", "cat", "dan"}; !reflect.DeepEqual(dan.members, want) {
		t.Errorf("dan's members on B: %q, want %q", dan.members, want)
	}
	ann.expect(t, status("dan", "joined"))
	cat.expect(t, status("dan", "joined"))
	dan.ws.UnderlyingConn().Close()
	ann.expect(t, status("dan", "left"))
	cat.expect(t, status("dan", "left"))

	// No status reaches a joiner about its own join, on either instance.
	eve := B.join(t, "r", "eve")
	ann.expect(t, status("eve", "joined"))
	ann.say(t, "welcome")
	eve.expect(t, msg("ann", "welcome"))
}

func TestClusterHistorySpansInstances(t *testing.T) {
	_, A, B := newCluster(t)
	ann := A.join(t, "h", "ann")
	amy := A.join(t, "h", "amy")
	ann.expect(t, status("amy", "joined"))
	for i := range 60 {
		ann.say(t, fmt.Sprintf("m%02d", i))
	}
	for i := range 60 { // all 60 are recorded on A
		amy.expect(t, msg("ann", fmt.Sprintf("m%02d", i)))
	}

	// B has never had anyone in the room: it asks A.
	cat := B.join(t, "h", "cat")
	if len(cat.history) != 50 {
		t.Fatalf("cat got %d history frames on B, want 50", len(cat.history))
	}
	for i, m := range cat.history {
		if want := (Message{Typ: typHistory, From: "ann", Text: fmt.Sprintf("m%02d", i+10)}); m != want {
			t.Fatalf("history[%d] = %+v, want %+v", i, m, want)
		}
	}
	if want := []string{"amy", "ann", "cat"}; !reflect.DeepEqual(cat.members, want) {
		t.Errorf("cat's members: %q, want %q", cat.members, want)
	}
	ann.expect(t, status("cat", "joined"))
	amy.expect(t, status("cat", "joined"))
	// No event was pending: cat's next frame is a live one.
	ann.say(t, "after")
	cat.expect(t, msg("ann", "after"))
	amy.expect(t, msg("ann", "after"))

	// A conversation across instances is listed in its order everywhere.
	cat.say(t, "from B")
	ann.expect(t, msg("cat", "from B"))
	ann.say(t, "from A")
	cat.expect(t, msg("ann", "from A"))
	amy.expect(t, msg("cat", "from B"))
	amy.expect(t, msg("ann", "from A"))
	tail := []Message{
		{Typ: typHistory, From: "ann", Text: "after"},
		{Typ: typHistory, From: "cat", Text: "from B"},
		{Typ: typHistory, From: "ann", Text: "from A"},
	}
	dan := A.join(t, "h", "dan")
	eve := B.join(t, "h", "eve")
	for _, c := range []*client{dan, eve} {
		if len(c.history) != 50 || !reflect.DeepEqual(c.history[47:], tail) {
			t.Errorf("%s's history (%d frames) ends with %+v, want %+v", c.name, len(c.history), c.history[max(0, len(c.history)-3):], tail)
		}
	}
	if !reflect.DeepEqual(dan.history, eve.history) {
		t.Errorf("the history differs between A and B:\nA %+v\nB %+v", dan.history, eve.history)
	}

	for _, c := range []*client{ann, amy} {
		c.expect(t, status("dan", "joined"))
		c.expect(t, status("eve", "joined"))
	}

	// B's members all leave: B's history goes stale, and a joiner there
	// later asks again.
	for _, c := range []*client{cat, eve} {
		c.leave()
		ann.expect(t, status(c.name, "left"))
		amy.expect(t, status(c.name, "left"))
	}
	testkit.EventuallyNoError(t, "B drops the room", func() error {
		if e := B.app.nats.relay.epoch("h"); e != 0 {
			return fmt.Errorf("still subscribed, epoch %d", e)
		}
		return nil
	})
	ann.say(t, "while B was away")
	amy.expect(t, msg("ann", "while B was away"))
	fay := B.join(t, "h", "fay")
	if n := len(fay.history); n == 0 || fay.history[n-1] != (Message{Typ: typHistory, From: "ann", Text: "while B was away"}) {
		t.Errorf("fay's history on B ends with %+v", fay.history[max(0, n-2):])
	}
}

// Joiners on both instances while ann, on A, keeps the room busy: each
// sees one unbroken run of her messages, history then live.
func TestClusterJoinersSeeEveryMessageOnce(t *testing.T) {
	_, A, B := newCluster(t)
	testJoinersSeeEveryMessageOnce(t, A, B, B, A)
}

func TestClusterRoomsAreIsolated(t *testing.T) {
	_, A, B := newCluster(t)
	ann := A.join(t, "one", "ann")
	bob := B.join(t, "one", "bob")
	cat := A.join(t, "two", "cat")
	ann2 := B.join(t, "two", "ann") // the same name, in another room, on the other instance
	ann.expect(t, status("bob", "joined"))
	cat.expect(t, status("ann", "joined"))
	if want := []string{"ann", "cat"}; !reflect.DeepEqual(ann2.members, want) {
		t.Errorf("members of two: %q, want %q", ann2.members, want)
	}
	if want := []string{"ann", "bob"}; !reflect.DeepEqual(bob.members, want) {
		t.Errorf("members of one: %q, want %q", bob.members, want)
	}

	ann.say(t, "for one")
	bob.expect(t, msg("ann", "for one"))
	ann2.say(t, "for two")
	cat.expect(t, msg("ann", "for two")) // not "for one"
	cat.say(t, "sync two")
	ann2.expect(t, msg("cat", "sync two"))
	bob.say(t, "sync one")
	ann.expect(t, msg("bob", "sync one")) // not "for two" nor "sync two"

	// Nor does history cross rooms, on either instance.
	want := []Message{{Typ: typHistory, From: "ann", Text: "for two"}, {Typ: typHistory, From: "cat", Text: "sync two"}}
	for i, ts := range []*testServer{A, B} {
		name := fmt.Sprintf("dan%d", i)
		dan := ts.join(t, "two", name)
		if !reflect.DeepEqual(dan.history, want) {
			t.Errorf("%s's history: %+v, want %+v", name, dan.history, want)
		}
		dan.leave()
		cat.expect(t, status(name, "joined"))
		cat.expect(t, status(name, "left"))
	}
}

func TestClusterNameInUseIsRefused(t *testing.T) {
	_, A, B := newCluster(t)
	ann := A.join(t, "r", "ann")

	for _, name := range []string{"ann", " ann "} {
		ws, status, body, err := B.dial("r", name)
		if err == nil {
			ws.Close()
			t.Fatalf("%q upgraded on B while ann is in the room on A", name)
		}
		if status != http.StatusConflict || !strings.Contains(body, "in use") {
			t.Errorf("%q on B: got %d %q, want 409", name, status, body)
		}
	}
	// 400 stays 400.
	if _, status, _, _ := B.dial("r", strings.Repeat("n", 33)); status != http.StatusBadRequest {
		t.Errorf("33-character name on B: %d, want 400", status)
	}

	// Joins as zed on both instances at once: at most one wins.
	won, statuses := dialAtOnce(t, []*testServer{A, B}, "r", "zed", 8)
	if won > 1 {
		t.Errorf("%d of %d simultaneous joins as zed on two instances succeeded: %v", won, len(statuses), statuses)
	}

	// The name is free on B once ann has left A.
	ann.leave()
	awaitNameFree(t, B, "r", "ann", "joining as ann on B")
}

func TestClusterLobbyCountsEveryInstance(t *testing.T) {
	_, A, B := newCluster(t)
	A.join(t, "alpha", "ann")
	A.join(t, "alpha", "bob")
	B.join(t, "alpha", "cat")
	B.join(t, "beta", "dan")
	A.join(t, "<b>x</b>", "eve")
	for _, ts := range []*testServer{A, B} {
		_, page := get(t, ts.URL+"/")
		for _, want := range []string{
			`<a href="/rooms/alpha"><span class="room-name">alpha</span> <span class="count">3 people</span></a>`,
			`<a href="/rooms/beta"><span class="room-name">beta</span> <span class="count">1 person</span></a>`,
			`<a href="/rooms/%3Cb%3Ex%3C%2Fb%3E"><span class="room-name">&lt;b&gt;x&lt;/b&gt;</span> <span class="count">1 person</span>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("lobby lacks %s\n%s", want, page)
			}
		}
		if strings.Index(page, ">alpha<") > strings.Index(page, ">beta<") {
			t.Error("the busiest room is not listed first")
		}
	}
}

// TestClusterSurvivesNATSOutage stops the NATS server and starts it again
// on the same port: local chat goes on meanwhile, and afterwards messages
// cross instances again and presence and history converge. Without a
// reconnect buffer, what A did during the outage can reach B only through
// the state queries that follow the reconnect.
func TestClusterSurvivesNATSOutage(t *testing.T) {
	t.Run("buffered", func(t *testing.T) { testOutage(t) })
	t.Run("unbuffered", func(t *testing.T) {
		testOutage(t, func(c *config) { c.NATSOptions = append(c.NATSOptions, nats.ReconnectBufSize(-1)) })
	})
}

func testOutage(t *testing.T, opts ...func(*config)) {
	s, A, B := newCluster(t, opts...)
	port := natstest.Port(t, s)
	ann := A.join(t, "r", "ann")
	amy := A.join(t, "r", "amy")
	bob := B.join(t, "r", "bob")
	ann.expect(t, status("amy", "joined"))
	ann.expect(t, status("bob", "joined"))
	amy.expect(t, status("bob", "joined"))
	ann.say(t, "before")
	bob.expect(t, msg("ann", "before"))
	amy.expect(t, msg("ann", "before"))

	natstest.Stop(s)
	testkit.EventuallyNoError(t, "both instances see the outage", func() error {
		if A.app.nats.nc.IsConnected() || B.app.nats.nc.IsConnected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	// Local chat goes on, joins included.
	ann.say(t, "down 1")
	amy.expect(t, msg("ann", "down 1"))
	bob.say(t, "down on B")
	ann2 := A.join(t, "r", "ann2")
	if want := []string{"amy", "ann", "ann2", "bob"}; !reflect.DeepEqual(ann2.members, want) {
		t.Errorf("members for a joiner during the outage: %q, want %q (bob as last known)", ann2.members, want)
	}
	if len(ann2.history) != 2 || ann2.history[1].Text != "down 1" {
		t.Errorf("history for a joiner during the outage: %+v", ann2.history)
	}
	ann.expect(t, status("ann2", "joined"))
	amy.expect(t, status("ann2", "joined"))
	if _, page := get(t, A.URL+"/"); !strings.Contains(page, "4 people") {
		t.Errorf("A's lobby during the outage lacks 4 people (3 here, bob as last known):\n%s", page)
	}

	natstest.Start(t, port)
	annF, bobF := ann.feed(), bob.feed()
	// What A published during the outage may reach bob late (from the
	// reconnect buffer, or merged from A's history); and B's to ann.
	var bobSaw, annSaw []Message
	record := func(m Message) { bobSaw = append(bobSaw, m) }

	// A to B resumes.
	deadline := time.Now().Add(testkit.Wait)
	for k := 0; ; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("nothing from A reached bob within %v of the restart; bob got %+v", testkit.Wait, bobSaw)
		}
		ann.say(t, fmt.Sprintf("after %d", k))
		m, ok := bobF.within(t, 50*time.Millisecond)
		for ok && !(m.From == "ann" && strings.HasPrefix(m.Text, "after ")) {
			record(m)
			m, ok = bobF.within(t, 50*time.Millisecond)
		}
		if ok {
			break
		}
	}
	// B to A resumes.
	deadline = time.Now().Add(testkit.Wait)
	for k := 0; ; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("nothing from B reached ann within %v of the restart", testkit.Wait)
		}
		bob.say(t, fmt.Sprintf("back %d", k))
		m, ok := annF.within(t, 50*time.Millisecond)
		for ok && !(m.From == "bob" && strings.HasPrefix(m.Text, "back ")) {
			annSaw = append(annSaw, m)
			m, ok = annF.within(t, 50*time.Millisecond)
		}
		if ok {
			break
		}
	}

	// Presence converges: bob learns that ann2 came. And each side gets
	// the message the other sent during the outage, late.
	gets := func(f *feed, saw *[]Message, want Message) {
		t.Helper()
		if !slices.Contains(*saw, want) {
			f.until(t, fmt.Sprintf("%+v", want), func(m Message) bool { return m == want },
				func(m Message) { *saw = append(*saw, m) })
		}
	}
	gets(bobF, &bobSaw, status("ann2", "joined"))
	gets(bobF, &bobSaw, msg("ann", "down 1"))
	gets(annF, &annSaw, msg("bob", "down on B"))
	// History converges: a joiner on B gets A's outage message.
	tries := 0
	testkit.EventuallyNoError(t, "A's outage message in B's history", func() error {
		tries++
		c, err := B.tryJoin("r", fmt.Sprintf("zoe%d", tries))
		if err != nil {
			return err
		}
		defer c.leave()
		for _, m := range c.history {
			if m.From == "ann" && m.Text == "down 1" {
				return nil
			}
		}
		return fmt.Errorf("history %+v", c.history)
	})
}

// An instance that vanishes without a word is forgotten after 3 hello
// intervals: its members are shown as gone.
func TestClusterForgetsASilentInstance(t *testing.T) {
	s := natstest.Start(t, -1)
	fast := func(c *config) { c.HelloInterval = 100 * time.Millisecond }
	A := newInstance(t, s.ClientURL(), "A", fast)
	B := newInstance(t, s.ClientURL(), "B", fast)
	testkit.EventuallyNoError(t, "A and B know of each other", func() error {
		if A.app.nats.peerCount() != 1 || B.app.nats.peerCount() != 1 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	ann := A.join(t, "r", "ann")
	B.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))

	B.app.nats.nc.Close() // B is cut off, saying nothing
	ann.expect(t, status("bob", "left"))
	if _, page := get(t, A.URL+"/"); !strings.Contains(page, "1 person") {
		t.Errorf("A's lobby still counts bob:\n%s", page)
	}
}

func TestClusterNeedsNATSAtStart(t *testing.T) {
	url := "nats://" + testkit.UnusedAddr(t)
	a, err := newApp(config{Logger: quietLogger(), NATSURL: url})
	if err == nil {
		a.Close()
		t.Fatal("newApp succeeded without a NATS server")
	}
	if !strings.Contains(err.Error(), "nats-server") || !strings.Contains(err.Error(), url) {
		t.Errorf("error %q does not say what is missing", err)
	}
}

func TestNATSURLFromFlagOrEnvironment(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "NATS_URL" {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", ""},
		{nil, "nats://env:4222", "nats://env:4222"},
		{[]string{"-nats", "nats://flag:4222"}, "nats://env:4222", "nats://flag:4222"},
		{[]string{"-nats="}, "nats://env:4222", ""},
	} {
		if got := parseFlags(tc.args, env(tc.env)).NATSURL; got != tc.want {
			t.Errorf("args %q, NATS_URL %q: %q, want %q", tc.args, tc.env, got, tc.want)
		}
	}
}
