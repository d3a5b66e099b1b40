package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// In these tests, a frame that must NOT arrive is checked with a later
// frame that must: the hub queues a client's frames in order, so when the
// later one arrives first, the other was never sent.

func TestMessageGoesToOthersNotSender(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	cat := ts.join(t, "r", "cat")
	ann.expect(t, status("bob", "joined"))
	ann.expect(t, status("cat", "joined"))
	bob.expect(t, status("cat", "joined"))

	ann.say(t, "hi")
	bob.expect(t, msg("ann", "hi"))
	cat.expect(t, msg("ann", "hi"))

	// ann's "hi" has been published; had ann got it back, it would come
	// before bob's.
	bob.say(t, "sync")
	ann.expect(t, msg("bob", "sync"))
	cat.expect(t, msg("bob", "sync"))
}

func TestFromIsTheURLName(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))

	if err := ann.sendFrame(Message{Typ: typMessage, From: "bob", Text: "I am bob"}); err != nil {
		t.Fatal(err)
	}
	bob.expect(t, msg("ann", "I am bob"))
}

func TestJoinAndLeaveStatuses(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	if want := []string{"ann", "bob"}; !reflect.DeepEqual(bob.members, want) {
		t.Errorf("bob's members: %q, want %q", bob.members, want)
	}
	ann.expect(t, status("bob", "joined"))

	bob.leave()
	ann.expect(t, status("bob", "left"))

	// A connection lost without a close frame leaves too.
	cat := ts.join(t, "r", "cat")
	ann.expect(t, status("cat", "joined"))
	cat.ws.UnderlyingConn().Close()
	ann.expect(t, status("cat", "left"))

	// No status reaches a joiner about its own join: dan's first frame
	// after joining is ann's message.
	dan := ts.join(t, "r", "dan")
	ann.expect(t, status("dan", "joined"))
	ann.say(t, "welcome")
	dan.expect(t, msg("ann", "welcome"))
}

func TestJoinerGetsHistoryThenMembers(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	if len(ann.history) != 0 || len(bob.history) != 0 {
		t.Fatalf("history in a new room: %v, %v", ann.history, bob.history)
	}

	for i := range 60 {
		ann.say(t, fmt.Sprintf("m%02d", i))
	}
	for i := range 60 { // all 60 are recorded
		bob.expect(t, msg("ann", fmt.Sprintf("m%02d", i)))
	}

	cat := ts.join(t, "r", "cat")
	if len(cat.history) != 50 {
		t.Fatalf("cat got %d history frames, want 50", len(cat.history))
	}
	for i, m := range cat.history {
		want := Message{Typ: typHistory, From: "ann", Text: fmt.Sprintf("m%02d", i+10)}
		if m != want {
			t.Fatalf("history[%d] = %+v, want %+v", i, m, want)
		}
	}
	if want := []string{"ann", "bob", "cat"}; !reflect.DeepEqual(cat.members, want) {
		t.Errorf("cat's members: %q, want %q", cat.members, want)
	}
	// No event was pending: cat's next frame is a live one.
	bob.say(t, "after")
	cat.expect(t, msg("bob", "after"))
}

func TestMembersFrameIsAJSONArrayInText(t *testing.T) {
	ts := newTestServer(t)
	ts.join(t, "r", "bob")
	ts.join(t, "r", `"ann"`)
	ws, _, _, err := ts.dial("r", "cat")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(testkit.Wait))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"typ": "members", "text": `["\"ann\"","bob","cat"]`}
	if !reflect.DeepEqual(raw, want) {
		t.Errorf("members frame %s, want %v", data, want)
	}
}

func TestRoomsAreIsolated(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "one", "ann")
	bob := ts.join(t, "one", "bob")
	cat := ts.join(t, "two", "cat")
	ann2 := ts.join(t, "two", "ann") // the same name in another room
	ann.expect(t, status("bob", "joined"))
	cat.expect(t, status("ann", "joined"))
	if len(ann2.members) != 2 || len(bob.members) != 2 {
		t.Fatalf("members: %q in two, %q in one", ann2.members, bob.members)
	}

	ann.say(t, "for one")
	bob.expect(t, msg("ann", "for one"))
	ann2.say(t, "for two")
	cat.expect(t, msg("ann", "for two")) // not "for one"
	cat.say(t, "sync two")
	ann2.expect(t, msg("cat", "sync two"))
	bob.say(t, "sync one")
	ann.expect(t, msg("bob", "sync one")) // not "for two" nor "sync two"

	// Nor does history cross rooms.
	dan := ts.join(t, "two", "dan")
	want := []Message{{Typ: typHistory, From: "ann", Text: "for two"}, {Typ: typHistory, From: "cat", Text: "sync two"}}
	if !reflect.DeepEqual(dan.history, want) {
		t.Errorf("dan's history: %+v, want %+v", dan.history, want)
	}
}

func TestBadNamesAreRefusedBeforeUpgrade(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		what, room, name, reason string
	}{
		{"empty name", "r", "", "invalid name"},
		{"spaces-only name", "r", "   ", "invalid name"},
		{"33-rune name", "r", strings.Repeat("é", 33), "longer than 32"},
		{"control character", "r", "a\x01b", "invalid name"},
		{"empty room", "", "ann", "invalid room"},
		{"65-character room", strings.Repeat("r", 65), "ann", "longer than 64"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			ws, status, body, err := ts.dial(tc.room, tc.name)
			if err == nil {
				ws.Close()
				t.Fatal("upgraded")
			}
			if status != http.StatusBadRequest || !strings.Contains(body, tc.reason) {
				t.Errorf("got %d %q, want 400 saying %q", status, body, tc.reason)
			}
		})
	}

	// The limits themselves are fine; a multi-byte name counts in runes.
	ts.join(t, strings.Repeat("r", 64), strings.Repeat("é", 32))
}

func TestNameInUseIsRefused(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")

	for _, name := range []string{"ann", " ann "} {
		ws, status, body, err := ts.dial("r", name)
		if err == nil {
			ws.Close()
			t.Fatalf("%q upgraded while ann is in the room", name)
		}
		if status != http.StatusConflict || !strings.Contains(body, "in use") {
			t.Errorf("%q: got %d %q, want 409", name, status, body)
		}
	}

	// Two at once: one wins.
	won, statuses := dialAtOnce(t, []*testServer{ts}, "r", "zed", 8)
	if won != 1 {
		t.Errorf("%d of %d simultaneous joins as zed succeeded: %v", won, len(statuses), statuses)
	}

	// The name is free again once its connection is over.
	ann.leave()
	awaitNameFree(t, ts, "r", "ann", "joining as ann again")
}

func TestRefusedFramesGetAnErrorToTheSenderOnly(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))

	expectError := func(what string) {
		t.Helper()
		m := ann.mustNext(t)
		if m.Typ != typError || !strings.Contains(m.Text, what) {
			t.Fatalf("got %+v, want an error frame saying %q", m, what)
		}
	}

	ann.say(t, strings.Repeat("x", maxTextBytes+1))
	expectError("too long")
	if err := ann.sendFrame(Message{Typ: "shout", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	expectError(`unknown message type "shout"`)
	ann.ws.WriteMessage(websocket.TextMessage, []byte(`{"typ":`))
	expectError("not a JSON message")
	ann.say(t, " ")
	expectError("empty")

	// The connection still works, and the refused frames were not relayed:
	// bob's next frame is this one.
	exact := strings.Repeat("é", maxTextBytes/2) // 4096 bytes: at the limit
	ann.say(t, exact)
	bob.expect(t, msg("ann", exact))
	bob.say(t, "sync")
	ann.expect(t, msg("bob", "sync"))
}

func TestHTMLIsRelayedAsText(t *testing.T) {
	ts := newTestServer(t)
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))

	for _, text := range []string{
		`<img src=x onerror=alert(1)>`,
		`<script>alert("x")</script> & &amp; 'quotes'`,
	} {
		ann.say(t, text)
		bob.ws.SetReadDeadline(time.Now().Add(testkit.Wait))
		_, data, err := bob.ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var got Message
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if got.Pos = ""; got != msg("ann", text) {
			t.Errorf("got %+v, want %q verbatim", got, text)
		}
		if strings.Contains(string(data), "&lt;") || strings.Contains(string(data), "&amp;lt;") {
			t.Errorf("frame %s is HTML-escaped", data)
		}
	}

	// History carries it verbatim too.
	cat := ts.join(t, "r", "cat")
	if len(cat.history) != 2 || cat.history[0].Text != `<img src=x onerror=alert(1)>` {
		t.Errorf("cat's history: %+v", cat.history)
	}
}

// TestJoinersSeeEveryMessageOnce joins clients while a room is busy: each
// one must see the messages as one unbroken run, history then live, with
// nothing missed and nothing twice.
func TestJoinersSeeEveryMessageOnce(t *testing.T) {
	ts := newTestServer(t)
	testJoinersSeeEveryMessageOnce(t, ts, ts, ts)
}

// testJoinersSeeEveryMessageOnce has ann talk on one server, an observer
// listen on another, and the joiners join on the servers given, in turn.
func testJoinersSeeEveryMessageOnce(t *testing.T, talk, listen *testServer, joinOn ...*testServer) {
	ann := talk.join(t, "busy", "ann")
	obs := listen.join(t, "busy", "obs")
	ann.expect(t, status("obs", "joined"))

	const total, batch, joiners = 300, 10, 8
	var wg sync.WaitGroup
	errs := make(chan error, joiners)
	startJoiner := func(i int) {
		wg.Go(func() {
			name := "j" + strconv.Itoa(i)
			c, err := joinOn[i%len(joinOn)].tryJoin("busy", name)
			if err != nil {
				errs <- err
				return
			}
			defer c.close()
			var seen []int
			for _, m := range c.history {
				n, _ := strconv.Atoi(strings.TrimPrefix(m.Text, "m"))
				seen = append(seen, n)
			}
			for len(seen) == 0 || seen[len(seen)-1] != total-1 {
				m, err := c.next()
				if err != nil {
					errs <- fmt.Errorf("%s after %d messages: %v", name, len(seen), err)
					return
				}
				if m.Typ != typMessage {
					continue // statuses of the other joiners
				}
				if m.From != "ann" {
					errs <- fmt.Errorf("%s got %+v", name, m)
					return
				}
				n, _ := strconv.Atoi(strings.TrimPrefix(m.Text, "m"))
				seen = append(seen, n)
			}
			for k := 1; k < len(seen); k++ {
				if seen[k] != seen[k-1]+1 {
					errs <- fmt.Errorf("%s saw m%d after m%d (history %d, all %v)", name, seen[k], seen[k-1], len(c.history), seen)
					return
				}
			}
			if len(c.history) > 50 {
				errs <- fmt.Errorf("%s got %d history frames", name, len(c.history))
			}
		})
	}

	every := total / joiners
	for i := range total {
		if i%every == every/2 {
			startJoiner(i / every)
		}
		ann.say(t, fmt.Sprintf("m%d", i))
		if i%batch == batch-1 { // keep the room busy, not flooded
			for j := i - batch + 1; j <= i; j++ {
				for {
					m := obs.mustNext(t)
					if m.Typ == typMessage {
						if m != msg("ann", fmt.Sprintf("m%d", j)) {
							t.Fatalf("observer got %+v, want m%d", m, j)
						}
						break
					}
				}
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A member flooding the room at thousands of messages a second is cut to
// the rate limit: the others get what passes, in order, and none of them
// is disconnected as a slow client.
func TestFloodIsCutToTheRate(t *testing.T) {
	logs := &syncBuffer{}
	ts := serveApp(t, config{Logger: log.New(logs, "", log.Lmicroseconds), MessageRate: 10, DataDir: t.TempDir()}, logs, "server")
	ann := ts.join(t, "r", "ann")
	bob := ts.join(t, "r", "bob")
	ann.expect(t, status("bob", "joined"))
	start := time.Now()
	const flood = 3000
	before := ts.app.sockets.Stats().MessagesIn
	for i := range flood {
		ann.say(t, fmt.Sprintf("f%d", i))
	}
	testkit.Eventually(t, "the flood read", func() bool {
		return ts.app.sockets.Stats().MessagesIn >= before+flood
	})
	elapsed := time.Since(start)
	// A token for ann, then a last message: bob reads up to it what passed,
	// the burst (40, less the token ann's joining took) and 10/s since, in
	// order.
	time.Sleep(200 * time.Millisecond)
	ann.say(t, "still here?")
	max := 40 + int(10*elapsed.Seconds()) + 1
	got, last := 0, -1
	for {
		m, err := bob.next()
		if err != nil {
			t.Fatalf("bob, after %d flooded messages: %v", got, err)
		}
		if m == msg("ann", "still here?") {
			break // bob is still a member: not dropped as a slow client
		}
		if m.Typ != typMessage {
			continue
		}
		var n int
		fmt.Sscanf(m.Text, "f%d", &n)
		if n <= last {
			t.Fatalf("bob got f%d after f%d", n, last)
		}
		last = n
		got++
	}
	if got < 39 || got > max {
		t.Errorf("bob got %d of %d flooded messages in %v, want the burst (39 or 40) to %d", got, flood, elapsed, max)
	}
}

// The sockets accept the Host names of the listen address only: a page
// reaching the chat through a rebinding name of its own gets 403.
func TestForeignHostIsRefused(t *testing.T) {
	logs := &syncBuffer{}
	ts := serveApp(t, config{Logger: log.New(logs, "", 0), Addr: "127.0.0.1:4000", MessageRate: -1, DataDir: t.TempDir()}, logs, "server")
	_, resp, err := websocket.DefaultDialer.Dial(ts.socketURL("r", "ann"), http.Header{"Host": {"rebind.attacker.test:4000"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign Host: %v, want 403", err)
	}
	ts.join(t, "r", "ann") // Host 127.0.0.1:PORT
	// The pages too: the lobby names the rooms.
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.Host = "rebind.attacker.test:4000"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the lobby for a foreign Host: %d, want 403", resp.StatusCode)
	}
}
