package client_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/browser"
)

// TestBrowser drives sockets.js in headless Chromium against a real server
// (macaron, sockets, a Hub with history) that the tests stop, restart and
// make close sockets with chosen codes. Each subtest has a server and a
// fresh page of its own; the page loads the script with its integrity.
func TestBrowser(t *testing.T) {
	chromium := browser.New(t, 800, 600)
	tab := chromium.NewTab("")
	run := func(name string, test func(t *testing.T, ts *testServer, tb *browser.Tab)) {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t)
			tb := &browser.Tab{T: t, Ctx: tab.Ctx}
			tb.Do(chromedp.Navigate(ts.URL + "/"))
			tb.WaitFor(`typeof Sockets === "function" && typeof track === "function"`)
			test(t, ts, tb)
			tb.Run(`Object.values(T).forEach((r) => r.c.close())`)
		})
	}
	run("Restart", testRestart)
	run("CloseCodes", testCloseCodes)
	run("Backoff", func(t *testing.T, ts *testServer, tb *browser.Tab) {
		other := &browser.Tab{T: t, Ctx: chromium.NewTab("second page").Ctx}
		other.Do(chromedp.Navigate(ts.URL + "/"))
		other.WaitFor(`typeof track === "function"`)
		testBackoff(t, ts, tb, other)
		other.Run(`Object.values(T).forEach((r) => r.c.close())`)
	})
	run("JitterKinds", testJitterKinds)
	run("StableResetsBackoff", testStable)
	run("Resume", testResume)
	run("CannotRecover", testCannotRecover)
	run("Queue", testQueue)
	run("Status", testStatus)
	run("PauseOfflineHidden", testPause)
	run("TextStaysText", testTextStaysText)
	chromium.Close()
}

// status is a status event as the page recorded it, at t (ms).
type status struct {
	T       float64 `json:"t"`
	State   string  `json:"state"`
	Code    int     `json:"code"`
	Reason  string  `json:"reason"`
	Opened  bool    `json:"opened"`
	Attempt int     `json:"attempt"`
	Delay   float64 `json:"delay"`
	Seconds int     `json:"seconds"`
	Why     string  `json:"why"`
	Pos     *string `json:"position"`
}

// statuses returns the status events of the page's client name.
func statuses(tb *browser.Tab, name string) []status {
	tb.T.Helper()
	return browser.Eval[[]status](tb, fmt.Sprintf(`T[%q].status`, name))
}

// waits returns the first status of each wait to reconnect (a wait ticks
// each second with the same delay).
func waits(ss []status) []status {
	var out []status
	for i, s := range ss {
		if s.State == "reconnecting" && (i == 0 || ss[i-1].State != "reconnecting") {
			out = append(out, s)
		}
	}
	return out
}

func find(ss []status, state string, code int) (status, bool) {
	for _, s := range ss {
		if s.State == state && s.Code == code {
			return s, true
		}
	}
	return status{}, false
}

func testRestart(t *testing.T, ts *testServer, tb *browser.Tab) {
	// A relative URL: the script makes it ws:// on the page's host.
	tb.Run(`track("a", "/ws/echo?key=a", { delay: 100, maxDelay: 400, jitter: "equal" })`)
	tb.WaitFor(`opens("a") === 1`)
	ts.restart(300 * time.Millisecond)
	tb.WaitFor(`opens("a") === 2`)
	ss := statuses(tb, "a")
	s, ok := find(ss, "reconnecting", 1001)
	if !ok || s.Reason != "server shutdown" || !s.Opened {
		t.Errorf("no wait after the shutdown's 1001 \"server shutdown\": %+v", ss)
	}
	for _, s := range ss {
		if s.State == "closed" {
			t.Errorf("closed on a restart: %+v", s)
		}
	}
	// The page sees its socket open before the server's handler has
	// counted it: wait for the count, then check there is no third.
	for deadline := time.Now().Add(5 * time.Second); ts.count("a") < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ts.count("a"); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	tb.Run(`T.a.c.send("after the restart")`)
	waitGot(t, ts, "a", "after the restart")
}

// waitGot waits until key's clients have sent exactly want.
func waitGot(t *testing.T, ts *testServer, key string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(ts.got(key), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the server got %q from %s, want %q", ts.got(key), key, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCloseCodes(t *testing.T, ts *testServer, tb *browser.Tab) {
	const app = `finalCodes: [1003, 1007, 1009, 4001]`
	cases := []struct {
		code  int
		opts  string
		final bool
	}{
		{1000, "", false}, {1001, "", false}, {1008, "", false}, {1011, "", false},
		{1012, "", false}, {1013, "", false}, {4001, "", false},
		{1003, "", true}, {1007, "", true}, {1009, "", true},
		{4001, app, true}, {4002, app, false},
	}
	key := func(i int) string { return fmt.Sprintf("c%d", i) }
	for i, c := range cases {
		// Only the first connection is closed: one that reconnects stays.
		tb.Run(fmt.Sprintf(`track(%q, "/ws/echo?key=%s&once=1&close=%d&reason=why+%d", { delay: 50, maxDelay: 100, %s })`,
			key(i), key(i), c.code, c.code, c.opts))
	}
	for i, c := range cases {
		if c.final {
			tb.WaitFor(fmt.Sprintf(`T[%q].c.status.state === "closed"`, key(i)))
		} else {
			tb.WaitFor(fmt.Sprintf(`opens(%q) === 2`, key(i)))
		}
	}
	time.Sleep(500 * time.Millisecond) // ten times the delay: a retry would have come
	for i, c := range cases {
		ss := statuses(tb, key(i))
		want, state := 2, "reconnecting"
		if c.final {
			want, state = 1, "closed"
		}
		if n := ts.count(key(i)); n != want {
			t.Errorf("close %d (%s): %d connections, want %d", c.code, c.opts, n, want)
		}
		s, ok := find(ss, state, c.code)
		if !ok || s.Reason != fmt.Sprintf("why %d", c.code) || !s.Opened {
			t.Errorf("close %d (%s): no %s status with the code and its reason: %+v", c.code, c.opts, state, ss)
		}
	}
}

func testBackoff(t *testing.T, ts *testServer, tb, other *browser.Tab) {
	ts.stop() // nothing listens: every attempt fails at once
	const attempts = 8
	const opts = `delay: 40, maxDelay: 320`
	tb.Run(`track("equal", "/ws/echo", { ` + opts + `, jitter: "equal" })`)
	tb.Run(`track("full", "/ws/echo", { ` + opts + ` })`)
	other.Run(`track("equal", "/ws/echo", { ` + opts + `, jitter: "equal" })`)
	done := fmt.Sprintf(`T[%%q].status.some((s) => s.state === "connecting" && s.attempt >= %d)`, attempts)
	for _, w := range []struct {
		tb   *browser.Tab
		name string
	}{{tb, "equal"}, {tb, "full"}, {other, "equal"}} {
		w.tb.WaitFor(fmt.Sprintf(done, w.name))
	}
	delays := map[string][]float64{}
	for _, w := range []struct {
		tb          *browser.Tab
		name, label string
		equal       bool
	}{{tb, "equal", "page 1, equal", true}, {tb, "full", "page 1, full", false}, {other, "equal", "page 2, equal", true}} {
		ss := statuses(w.tb, w.name)
		ws := waits(ss)[:attempts]
		for i, s := range ws {
			n := i + 1
			base := math.Min(320, 40*math.Pow(2, float64(i)))
			lo := 0.0
			if w.equal {
				lo = base / 2
			}
			if s.Attempt != n || s.Delay < lo || s.Delay > base || s.Code != 1006 || s.Opened {
				t.Errorf("%s: wait %d is %+v, want attempt %d, a delay in [%v, %v], 1006 unopened", w.label, n, s, n, lo, base)
			}
			delays[w.label] = append(delays[w.label], math.Round(s.Delay))
			// The next attempt comes no sooner than the delay said.
			for _, c := range ss {
				if c.State == "connecting" && c.Attempt == n {
					if c.T-s.T < s.Delay-5 {
						t.Errorf("%s: attempt %d came %.0f ms after a wait of %.0f ms", w.label, n, c.T-s.T, s.Delay)
					}
					break
				}
			}
		}
	}
	t.Logf("delays (ms): %v", delays)
	if slices.Equal(delays["page 1, equal"], delays["page 2, equal"]) {
		t.Errorf("two pages waited the same delays, %v: no jitter", delays["page 1, equal"])
	}
}

// testJitterKinds: with Math.random stubbed, each kind of jitter is its
// formula, capped: full waits random·d, equal d/2 + random·d/2.
func testJitterKinds(t *testing.T, ts *testServer, tb *browser.Tab) {
	ts.stop() // nothing listens: every attempt fails at once
	const attempts, random = 6, 0.1
	tb.Run(fmt.Sprintf(`Math.random = () => %v`, random))
	tb.Run(`track("full", "/ws/echo", { delay: 40, maxDelay: 320 })`)
	tb.Run(`track("equal", "/ws/echo", { delay: 40, maxDelay: 320, jitter: "equal" })`)
	for _, name := range []string{"full", "equal"} {
		tb.WaitFor(fmt.Sprintf(`T[%q].status.some((s) => s.state === "connecting" && s.attempt >= %d)`, name, attempts))
		for i, s := range waits(statuses(tb, name))[:attempts] {
			d := math.Min(320, 40*math.Pow(2, float64(i)))
			want := random * d
			if name == "equal" {
				want = d/2 + random*d/2
			}
			if math.Abs(s.Delay-want) > 1e-9 {
				t.Errorf("%s jitter, wait %d: %v ms, want %v", name, i+1, s.Delay, want)
			}
		}
	}
}

func testStable(t *testing.T, ts *testServer, tb *browser.Tab) {
	const opts = `{ delay: 40, maxDelay: 5000, jitter: "equal", stable: 150 }`
	// Connections that last longer than stable start the backoff over;
	// ones that close at once make it grow.
	tb.Run(`track("long", "/ws/echo?key=long&close=1012&hold=400", ` + opts + `)`)
	tb.Run(`track("short", "/ws/echo?key=short&close=1012", ` + opts + `)`)
	tb.WaitFor(`opens("long") >= 4 && T.short.status.some((s) => s.state === "connecting" && s.attempt >= 4)`)
	for _, s := range waits(statuses(tb, "long")) {
		if s.Attempt != 1 || s.Delay > 40 {
			t.Errorf("after a stable connection: %+v, want attempt 1 within 40 ms", s)
		}
	}
	for i, s := range waits(statuses(tb, "short"))[:4] {
		if s.Attempt != i+1 || s.Delay < 20*math.Pow(2, float64(i)) {
			t.Errorf("after a short connection, wait %d: %+v, want attempt %d, at least %v ms", i+1, s, i+1, 20*math.Pow(2, float64(i)))
		}
	}
}

// testResume restarts the server twice while messages keep coming: the
// page reconnects since the last position it saw and gets every message
// once, in order.
func testResume(t *testing.T, ts *testServer, tb *browser.Tab) {
	stop := ts.publisher(5 * time.Millisecond)
	tb.Run(`track("r", "/ws/room?key=r", { delay: 50, maxDelay: 200, jitter: "equal" })`)
	for i, down := range []time.Duration{250 * time.Millisecond, 0} {
		tb.WaitFor(`T.r.frames.length >= 20`)
		seen := browser.Eval[int](tb, `T.r.frames.length`)
		ts.restart(down)
		tb.WaitFor(fmt.Sprintf(`opens("r") === %d && T.r.frames.length >= %d`, i+2, seen+20))
	}
	last := stop()
	tb.WaitFor(fmt.Sprintf(`T.r.frames.length >= %d`, last))
	time.Sleep(100 * time.Millisecond) // a duplicate would come now
	got := browser.Eval[[]int](tb, `T.r.frames.map((f) => f.n)`)
	want := make([]int, last)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("the page got %d messages, want 1…%d once each, in order: %v", len(got), last, got)
	}
	positions := browser.Eval[[]string](tb, `T.r.frames.map((f) => f.pos)`)
	sinces := ts.sinceOf("r")
	if len(sinces) < 3 || sinces[0] != "" {
		t.Fatalf("since= of each connection: %q, want none first, then positions", sinces)
	}
	for _, s := range sinces[1:] {
		if !slices.Contains(positions, s) {
			t.Errorf("reconnected since %q, not a position the page saw", s)
		}
	}
	t.Logf("%d messages across %d connections, since %q", last, len(sinces), sinces)
}

func testCannotRecover(t *testing.T, ts *testServer, tb *browser.Tab) {
	for i := 1; i <= 3; i++ {
		if err := ts.hub.Publish(room, sockets.TextMessage, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	// A position from a history that is gone: the server answers
	// {"error":"reload"} and the client starts over without one.
	tb.Run(`track("x", "/ws/room?key=x", { delay: 50 }) && (T.x.c.position = "gone:2")`)
	tb.WaitFor(`T.x.resets.length === 1 && T.x.frames.length === 3`)
	if got := browser.Eval[[]int](tb, `T.x.frames.map((f) => f.n)`); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("after the reset the page got %v, want [1 2 3] (and no reset frame)", got)
	}
	if got := browser.Eval[string](tb, `JSON.stringify(T.x.resets[0])`); got != `{"frame":{"error":"reload"}}` {
		t.Errorf("reset event: %s", got)
	}
	if got := ts.sinceOf("x"); len(got) != 2 || got[0] != "gone:2" || got[1] != "" {
		t.Errorf("since= of each connection: %q, want gone:2, then none", got)
	}
	if pos := browser.Eval[string](tb, `T.x.c.position`); pos != browser.Eval[string](tb, `T.x.frames[2].pos`) {
		t.Errorf("position %q after the history, not the last frame's", pos)
	}

	// A close code may say the same (options.resetCodes).
	tb.Run(`track("y", "/ws/echo?key=y&once=1&close=4409&reason=start+over", { delay: 50, resetCodes: [4409] }) && (T.y.c.position = "e:1")`)
	tb.WaitFor(`opens("y") === 2 && T.y.resets.length === 1`)
	if got := browser.Eval[string](tb, `JSON.stringify(T.y.resets[0])`); got != `{"frame":null,"code":4409}` {
		t.Errorf("reset event: %s", got)
	}
	if got := ts.sinceOf("y"); len(got) != 2 || got[0] != "e:1" || got[1] != "" {
		t.Errorf("since= of each connection: %q, want e:1, then none", got)
	}
}

func testQueue(t *testing.T, ts *testServer, tb *browser.Tab) {
	ts.stop()
	tb.Run(`track("q", "/ws/echo?key=q", { delay: 50, maxDelay: 100, queue: 3, type: "kind" })`)
	sent := browser.Eval[[]bool](tb, `["a1", "a2", "a3", "a4", "a5"].map((x) => T.q.c.send(x))`)
	if slices.Contains(sent, true) {
		t.Errorf("send returned %v while disconnected, want all false", sent)
	}
	if got := browser.Eval[string](tb, `JSON.stringify([T.q.c.dropped, T.q.c.queued, T.q.drops])`); got != `[2,3,[{"frame":"a1","dropped":1},{"frame":"a2","dropped":2}]]` {
		t.Errorf("[dropped, queued, drop events] = %s", got)
	}
	ts.start()
	waitGot(t, ts, "q", "a3", "a4", "a5")
	tb.WaitFor(`opens("q") === 1 && T.q.c.queued === 0`)
	if !browser.Eval[bool](tb, `T.q.c.send("b1") && T.q.c.send("chat", { text: "hi", kind: "not this" })`) {
		t.Error("send returned false on an open socket")
	}
	received := []string{"a3", "a4", "a5", "b1", `{"kind":"chat","text":"hi"}`}
	waitGot(t, ts, "q", received...)

	// What was handed to the open socket is not sent again after a
	// restart; what was queued meanwhile goes once.
	ts.stop()
	tb.WaitFor(`T.q.c.status.state !== "open"`)
	if browser.Eval[bool](tb, `T.q.c.send("d1")`) {
		t.Error("send returned true while disconnected")
	}
	ts.start()
	tb.WaitFor(`opens("q") === 2`)
	waitGot(t, ts, "q", append(received, "d1")...)
	time.Sleep(200 * time.Millisecond)
	waitGot(t, ts, "q", append(received, "d1")...)
	if n := browser.Eval[int](tb, `T.q.c.dropped`); n != 2 {
		t.Errorf("%d dropped, want still 2", n)
	}
}

func testStatus(t *testing.T, ts *testServer, tb *browser.Tab) {
	tb.Run(`track("s", "/ws/echo?key=s", { delay: 2000, maxDelay: 2000, jitter: "equal" })`)
	tb.WaitFor(`opens("s") === 1`)
	ts.last("s").Close(1012, "restarting")
	tb.WaitFor(`opens("s") === 2`)
	ss := statuses(tb, "s")
	var words []string
	var ticks []int
	for _, s := range ss {
		if len(words) == 0 || words[len(words)-1] != s.State {
			words = append(words, s.State)
		}
		if s.State == "reconnecting" {
			ticks = append(ticks, s.Seconds)
			if s.Code != 1012 || s.Reason != "restarting" || !s.Opened || s.Attempt != 1 || s.Delay < 1000 || s.Delay > 2000 {
				t.Errorf("reconnecting: %+v, want 1012 restarting, opened, attempt 1, a delay in [1000, 2000]", s)
			}
		}
	}
	if got := strings.Join(words, " "); got != "connecting open reconnecting connecting open" {
		t.Errorf("states %q", got)
	}
	// Seconds count down to 1, once a second.
	for i, s := range ticks {
		if s != len(ticks)-i {
			t.Errorf("countdown %v, want …2, 1", ticks)
			break
		}
	}
	if w := waits(ss)[0]; ticks[0] != int(math.Ceil(w.Delay/1000)) {
		t.Errorf("countdown starts at %d for a delay of %.0f ms", ticks[0], w.Delay)
	}

	tb.Run(`T.s.c.close(4000, "bye")`)
	last := browser.Eval[status](tb, `T.s.c.status`)
	if last.State != "closed" || last.Code != 4000 || last.Reason != "bye" {
		t.Errorf("after close(): %+v", last)
	}
	conn := ts.last("s")
	select {
	case <-conn.Done():
		if ce := conn.CloseError(); ce.Code != 4000 || !ce.ByClient {
			t.Errorf("the server saw %+v, want 4000 from the client", ce)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the socket is still open after close()")
	}
}

func testPause(t *testing.T, ts *testServer, tb *browser.Tab) {
	const (
		offline = `Object.defineProperty(navigator, "onLine", { configurable: true, get: () => false }); dispatchEvent(new Event("offline"))`
		online  = `Object.defineProperty(navigator, "onLine", { configurable: true, get: () => true }); dispatchEvent(new Event("online"))`
		hidden  = `Object.defineProperty(document, "hidden", { configurable: true, get: () => true }); document.dispatchEvent(new Event("visibilitychange"))`
		visible = `Object.defineProperty(document, "hidden", { configurable: true, get: () => false }); document.dispatchEvent(new Event("visibilitychange"))`
	)
	tb.Run(`track("p", "/ws/echo?key=p", { delay: 50, maxDelay: 100 })`)
	tb.Run(`track("h", "/ws/echo?key=h", { delay: 50, maxDelay: 100, pauseHidden: false })`)
	tb.WaitFor(`opens("p") === 1 && opens("h") === 1`)

	for i, c := range []struct{ away, back, why string }{{offline, online, "offline"}, {hidden, visible, "hidden"}} {
		tb.Run(c.away)
		ts.last("p").Close(1001, "going away")
		ts.last("h").Close(1001, "going away")
		tb.WaitFor(fmt.Sprintf(`T.p.c.status.state === "paused" && T.p.c.status.why === %q && T.p.c.status.code === 1001`, c.why))
		if c.why == "hidden" {
			tb.WaitFor(`opens("h") === 3`) // pauseHidden: false
		}
		time.Sleep(300 * time.Millisecond) // six delays
		if n := ts.count("p"); n != i+1 {
			t.Errorf("%s: %d connections, want no new one while paused", c.why, n)
		}
		tb.Run(c.back)
		tb.WaitFor(fmt.Sprintf(`opens("p") === %d && T.h.c.status.state === "open"`, i+2))
		ws := waits(statuses(tb, "p"))
		// Within the first delay, whatever the backoff had reached.
		if w := ws[len(ws)-1]; w.Delay > 50 {
			t.Errorf("%s: came back after %+v, want within the first delay", c.why, w)
		}
	}

	// Many pages that come back online together do not all come back at
	// once: each waits a random moment within the first delay.
	tb.Run(offline)
	const n = 6
	for i := range n {
		tb.Run(fmt.Sprintf(`track("w%d", "/ws/echo?key=w%d", { delay: 400 })`, i, i))
	}
	for i := range n {
		tb.WaitFor(fmt.Sprintf(`T.w%d.c.status.state === "paused"`, i))
	}
	tb.Run(online)
	var delays []float64
	for i := range n {
		tb.WaitFor(fmt.Sprintf(`opens("w%d") === 1`, i))
		w := waits(statuses(tb, fmt.Sprintf("w%d", i)))
		if len(w) != 1 || w[0].Delay > 400 {
			t.Fatalf("w%d came back after %+v, want one wait within 400 ms", i, w)
		}
		delays = append(delays, w[0].Delay)
	}
	if slices.Max(delays)-slices.Min(delays) < 20 {
		t.Errorf("coming back online, the clients waited %v ms: not spread", delays)
	}
	t.Logf("back online after %v ms", delays)
}

// testTextStaysText: frames and close reasons with markup reach the page
// as the strings they were; nothing is parsed as HTML or run.
func testTextStaysText(t *testing.T, ts *testServer, tb *browser.Tab) {
	const (
		img    = `<img src=x onerror="window.pwned=1">`
		script = `<script>window.pwned=2</script>`
		bye    = `<i onmouseover="window.pwned=3">bye</i>`
	)
	tb.Run(`track("h", "/ws/echo?key=h", { type: "typ" })`)
	tb.Run(`T.h.msgs = [];
		T.h.off = T.h.c.on("msg", (f) => T.h.msgs.push(f.text));
		T.h.c.on("msg", () => { throw new Error("a handler that throws"); });
		T.h.c.on("msg", (f) => T.h.msgs.push("again " + f.text));
		T.h.elements = document.getElementsByTagName("*").length`)
	tb.WaitFor(`opens("h") === 1`)
	ts.send("h", `{"typ":"msg","text":`+browser.JSString(img)+`}`)
	ts.send("h", script) // not JSON: handed over as text
	ts.send("h", `{"typ":"other","text":"<b>x</b>"}`)
	ts.send("h", `{"typ":"*","text":"star"}`)
	tb.WaitFor(`T.h.frames.length === 4`)
	tb.Run(`T.h.off()`)
	ts.send("h", `{"typ":"msg","text":"after off"}`)
	tb.WaitFor(`T.h.frames.length === 5`)
	ts.last("h").Close(1012, bye)
	tb.WaitFor(`T.h.status.some((s) => s.state === "reconnecting")`)

	if got := browser.Eval[[]string](tb, `T.h.msgs`); !slices.Equal(got, []string{img, "again " + img, "again after off"}) {
		t.Errorf("typed handlers got %q", got)
	}
	if got := browser.Eval[string](tb, `typeof T.h.frames[1] + " " + T.h.frames[1]`); got != "string "+script {
		t.Errorf("the text frame arrived as %q", got)
	}
	if got := browser.Eval[[]string](tb, `T.h.frames.map((f) => typeof f === "string" ? f : f.text)`); !slices.Equal(got, []string{img, script, "<b>x</b>", "star", "after off"}) {
		t.Errorf("the catch-all got %q", got)
	}
	if got := browser.Eval[string](tb, `T.h.status.find((s) => s.state === "reconnecting").reason`); got != bye {
		t.Errorf("close reason %q, want %q", got, bye)
	}
	tb.Run(`document.getElementById("out").textContent = T.h.msgs[0] + T.h.frames[1] + T.h.status.find((s) => s.state === "reconnecting").reason`)
	if !browser.Eval[bool](tb, `document.getElementsByTagName("*").length === T.h.elements && window.pwned === undefined`) {
		t.Error("an element was made, or markup ran")
	}
}
