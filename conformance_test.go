package sockets_test

// An RFC 6455 conformance suite modelled on Autobahn|Testsuite (sections
// 1–7 and 9, and control frames spaced in time), run against a bare
// gorilla/websocket echo server and against an echo handler on each of our
// bindings. The rule it checks: every case bare gorilla passes, we pass.
//
// Each case runs on gorilla first; gorilla must get OK there, or the
// case's expectation is wrong. Then each binding must get OK too; a
// NON-STRICT result (Autobahn's name for a behaviour the RFC allows but
// does not prefer, such as an echo lost before a protocol error) counts as
// a failure of the binding whenever gorilla got OK.
//
//	go test -run TestConformance .
//	go test -run TestConformance -v -conformance.report .   # Markdown table on stdout
//	go test -run TestConformance -conformance.full .        # section 9 up to 16 MiB
//
// The cases are in conformance_cases_test.go; the raw client is
// internal/testkit/wsraw.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit/wsraw"
	"gopkg.in/macaron.v1"
)

var (
	conformanceFull   = flag.Bool("conformance.full", false, "conformance suite: also run section 9's messages of 4 MiB and more")
	conformanceReport = flag.Bool("conformance.report", false, "conformance suite: print the results as a Markdown table on stdout")
)

const (
	// conformanceReadLimit is the read limit of every server under test,
	// gorilla's (SetReadLimit) and the bindings' (MaxMessageSize) alike: it
	// fits section 9's largest message, 16 MiB.
	conformanceReadLimit = 16<<20 + 64<<10
	// defaultBudget bounds the wait for the events a case expects, before
	// the client closes.
	defaultBudget = 5 * time.Second
	// endWait bounds the wait for the server to close, or to finish the
	// closing handshake and close the TCP connection.
	endWait = 5 * time.Second
	// serverGoneWait bounds the wait, once the client has closed, for the
	// server's handler to return.
	serverGoneWait = 10 * time.Second
	// sessionsAtOnce is how many sessions run at once, the timed ones
	// (which mostly wait) not counted.
	sessionsAtOnce = 16
)

// sessionSlots bounds the sessions running at once.
var sessionSlots = make(chan struct{}, sessionsAtOnce)

// noCode stands, in a list of allowed close codes, for a close frame
// without a payload.
const noCode = -1

// target is a server under test.
type target struct {
	name string
	url  string
	// json: the server only echoes JSON, so valid UTF-8 text payloads are
	// sent as JSON strings (json.Marshal(string(p))), whose echo is then
	// byte-identical; invalid UTF-8 stays raw.
	json bool
	// echoOp is the opcode the server answers a message of opcode op with.
	echoOp func(op byte) byte
	// textOnly, when set, says why the server cannot echo a binary message;
	// the cases that need one are excluded for it, and listed as such.
	textOnly string
	conns    *connTracker
}

// connTracker learns when the server's side of each connection has ended,
// by the id the client puts in the URL.
type connTracker struct{ m sync.Map }

func (ct *connTracker) ch(id string) chan struct{} {
	v, _ := ct.m.LoadOrStore(id, make(chan struct{}))
	return v.(chan struct{})
}

// finished records that the server's handler for id has returned.
func (ct *connTracker) finished(id string) { close(ct.ch(id)) }

// wait waits, at most d, for the server's handler for id to return.
func (ct *connTracker) wait(id string, d time.Duration) bool {
	defer ct.m.Delete(id)
	select {
	case <-ct.ch(id):
		return true
	case <-time.After(d):
		return false
	}
}

// newGorillaTarget starts a bare gorilla/websocket echo server, like
// gorilla's own examples/autobahn server: NextReader/NextWriter echo of
// each message with its opcode, text validated as UTF-8 while it streams
// (close 1007 at the first byte that cannot start or continue valid UTF-8),
// gorilla's default ping and close handlers, and the same read limit as the
// bindings. flaws break it on purpose, to show that the suite notices.
func newGorillaTarget(t *testing.T, name string, flaws gorillaFlaws) *target {
	tg := &target{name: name, echoOp: func(op byte) byte { return op }, conns: &connTracker{}}
	var upgrader websocket.Upgrader
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer tg.conns.finished(r.URL.Query().Get("c"))
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetReadLimit(conformanceReadLimit)
		if flaws.noPong {
			conn.SetPingHandler(func(string) error { return nil })
		}
		if flaws.close1000 {
			conn.SetCloseHandler(func(int, string) error {
				conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
				return nil
			})
		}
		for {
			mt, rd, err := conn.NextReader()
			if err != nil {
				return
			}
			switch {
			case mt != websocket.TextMessage || flaws.noUTF8Check:
			case flaws.noFailFast:
				p, err := io.ReadAll(rd)
				if err != nil {
					return
				}
				if !utf8.Valid(p) {
					conn.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""),
						time.Now().Add(time.Second))
					return
				}
				rd = bytes.NewReader(p)
			default:
				rd = &utf8Stream{r: rd}
			}
			wr, err := conn.NextWriter(mt)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				if errors.Is(err, errNotUTF8) {
					conn.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""),
						time.Now().Add(time.Second))
				}
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	tg.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	return tg
}

// gorillaFlaws break the bare gorilla server on purpose.
type gorillaFlaws struct {
	noUTF8Check bool // echo text without validating it
	noFailFast  bool // validate a text message only once it is whole
	noPong      bool // answer no ping
	close1000   bool // answer every close frame with 1000
}

var errNotUTF8 = errors.New("text message is not valid UTF-8")

// utf8Stream validates UTF-8 as it is read (RFC 3629), failing at the first
// byte that makes what was read so far no prefix of valid UTF-8, and at EOF
// in the middle of a sequence.
type utf8Stream struct {
	r      io.Reader
	need   int  // continuation bytes still needed
	lo, hi byte // the range of the next continuation byte
}

// Read reads from the message and validates what it read.
func (u *utf8Stream) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	for i, b := range p[:n] {
		if !u.accept(b) {
			return i, errNotUTF8
		}
	}
	if err == io.EOF && u.need > 0 {
		return n, errNotUTF8
	}
	return n, err
}

func (u *utf8Stream) accept(b byte) bool {
	if u.need > 0 {
		if b < u.lo || b > u.hi {
			return false
		}
		u.need--
		u.lo, u.hi = 0x80, 0xbf
		return true
	}
	u.lo, u.hi = 0x80, 0xbf
	switch {
	case b < 0x80:
	case b >= 0xc2 && b <= 0xdf:
		u.need = 1
	case b == 0xe0:
		u.need, u.lo = 2, 0xa0
	case b == 0xed:
		u.need, u.hi = 2, 0x9f
	case b >= 0xe1 && b <= 0xef:
		u.need = 2
	case b == 0xf0:
		u.need, u.lo = 3, 0x90
	case b >= 0xf1 && b <= 0xf3:
		u.need = 3
	case b == 0xf4:
		u.need, u.hi = 3, 0x8f
	default:
		return false
	}
	return true
}

// bindingOptions is what every binding under test is given: the read limit,
// no logging, every other field at its default (WriteWait and PongWait
// 60 s, which some cases depend on).
func bindingOptions() *sockets.Options {
	return &sockets.Options{MaxMessageSize: conformanceReadLimit, Logger: log.New(io.Discard, "", 0)}
}

// newBindingTarget serves binding with an echo handler at /ws.
func newBindingTarget(t *testing.T, name string, binding, handler macaron.Handler) *target {
	tg := &target{name: name, echoOp: func(op byte) byte { return op }, conns: &connTracker{}}
	m := macaron.New()
	m.Get("/ws", func(ctx *macaron.Context) {
		defer tg.conns.finished(ctx.Query("c"))
		ctx.Next()
	}, binding, handler)
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	tg.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	return tg
}

// echoUntilDone is the echo handler of the bindings under test.
func echoUntilDone[T any](receiver <-chan T, sender chan<- T, done <-chan bool) {
	for {
		select {
		case m := <-receiver:
			sender <- m
		case <-done:
			return
		}
	}
}

// bindingTargets are the bindings under test, in the order they run.
var bindingTargets = []struct {
	name string
	make func(t *testing.T, name string) *target
}{
	{"Messages", func(t *testing.T, name string) *target {
		tg := newBindingTarget(t, name, sockets.Messages(bindingOptions()), echoUntilDone[string])
		tg.echoOp = func(byte) byte { return wsraw.OpText }
		// Messages answers every message in a text frame. Autobahn's
		// binary payloads (0xfe bytes) are not UTF-8, so no echo of them
		// can be a valid text frame: the cases that need a binary message
		// echoed are excluded for it.
		tg.textOnly = "answers in text frames only"
		return tg
	}},
	{"ByteSliceMessages", func(t *testing.T, name string) *target {
		tg := newBindingTarget(t, name, sockets.ByteSliceMessages(bindingOptions()), echoUntilDone[[]byte])
		// ByteSliceMessages answers every message in a binary frame, text
		// ones included: its echo of a text message is a binary message
		// with the same payload.
		tg.echoOp = func(byte) byte { return wsraw.OpBinary }
		return tg
	}},
	{"JSON", func(t *testing.T, name string) *target {
		tg := newBindingTarget(t, name, sockets.JSON(json.RawMessage{}, bindingOptions()), echoUntilDone[*json.RawMessage])
		tg.echoOp = func(byte) byte { return wsraw.OpText }
		tg.json = true
		// JSON only echoes messages that are JSON, and answers in text
		// frames: text payloads are sent as JSON strings, and the cases
		// that need a binary message echoed are excluded for it.
		tg.textOnly = "echoes JSON, in text frames only"
		return tg
	}},
}

// verdict is a case's outcome on one server, as Autobahn names them.
type verdict int

const (
	notRun verdict = iota
	vOK
	vNonStrict
	vFailed
	vExcluded
)

func (v verdict) String() string {
	switch v {
	case vOK:
		return "OK"
	case vNonStrict:
		return "NON-STRICT"
	case vFailed:
		return "FAILED"
	case vExcluded:
		return "n/a"
	}
	return ""
}

// endRule is how a case's connection must end.
type endRule struct {
	// serverFirst: the server must fail the connection (close first);
	// otherwise the client closes (or the case sends a close frame) and
	// the server must answer it.
	serverFirst bool
	// codes are the close codes allowed in the server's close frame
	// (noCode: a close frame without a payload).
	codes []int
	// drop accepts a TCP close without a close frame, where Autobahn does
	// ("or drop TCP").
	drop bool
}

// normalClose is the usual end: the client closes with 1000, the server
// answers 1000.
var normalClose = endRule{codes: []int{1000}}

// failWith is "the server fails the connection" with one of codes, or drops
// it, as Autobahn allows for protocol errors.
func failWith(codes ...int) endRule { return endRule{serverFirst: true, codes: codes, drop: true} }

// failStrict is "the server fails the connection" with a close frame
// carrying one of codes: no drop (gorilla always sends the close frame).
func failStrict(codes ...int) endRule { return endRule{serverFirst: true, codes: codes} }

// clientCloses is the end of a case that sends its own close frame.
func clientCloses(drop bool, codes ...int) endRule { return endRule{codes: codes, drop: drop} }

// confCase is one case.
type confCase struct {
	id   string
	what string
	run  func(s *session)
	end  endRule
	// binaryEcho: the case needs a binary message echoed.
	binaryEcho bool
	// timed: the case waits as it says (real delays); it runs outside the
	// session slots.
	timed bool
	// budget bounds the wait for the expected events (defaultBudget when
	// zero).
	budget time.Duration
	// full: only with -conformance.full.
	full bool
}

// ev is an event a case judges: a message, a pong, or a timeout Autobahn
// records ("timeout" with a tag, when the connection was still open after a
// wait).
type ev struct {
	kind string
	op   byte
	data []byte
}

func msgEv(op byte, p []byte) ev { return ev{kind: "message", op: op, data: p} }
func pongEv(p []byte) ev         { return ev{kind: "pong", data: p} }
func timeoutEv(tag string) ev    { return ev{kind: "timeout", data: []byte(tag)} }

func (e ev) equal(o ev) bool {
	return e.kind == o.kind && e.op == o.op && bytes.Equal(e.data, o.data)
}

func (e ev) String() string {
	switch e.kind {
	case "message":
		kind := "text"
		if e.op == wsraw.OpBinary {
			kind = "binary"
		}
		return fmt.Sprintf("%s(%dB %s)", kind, len(e.data), wsraw.Preview(e.data))
	case "timeout":
		return "timeout(" + string(e.data) + ")"
	}
	return fmt.Sprintf("%s(%s)", e.kind, wsraw.Preview(e.data))
}

func evsString(evs []ev) string {
	if len(evs) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, e := range evs {
		if i == 6 && len(evs) > 8 {
			fmt.Fprintf(&b, " … %d more … %s", len(evs)-7, evs[len(evs)-1])
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.String())
	}
	b.WriteString("]")
	return b.String()
}

func equalEvs(a, b []ev) bool {
	return slices.EqualFunc(a, b, ev.equal)
}

func isPrefix(prefix, of []ev) bool {
	return len(prefix) <= len(of) && equalEvs(prefix, of[:len(prefix)])
}

// item is what the session's reader goroutine hands over: an event or the
// error that ended reading.
type item struct {
	e   wsraw.Event
	err error
}

var sessionIDs atomic.Int64

// session is one case run against one target: the client's side, the
// events seen, and how the connection ended.
type session struct {
	tg    *target
	id    string
	c     *wsraw.Conn
	start time.Time

	items      chan item
	quit       chan struct{}
	readerDone chan struct{}

	// the expectations, set by the case
	ok, nonStrict [][]ev
	custom        func(got []ev) (v verdict, complete bool)

	got         []ev
	violations  []string
	problems    []string
	closeSent   bool
	serverClose *wsraw.CloseInfo
	// serverFirst: the server's close frame came before any from the client.
	serverFirst bool
	over        bool // reading ended: TCP closed, reset, or timed out
	end         wsraw.End
	endErr      error
	sendFailed  error

	transcript strings.Builder
	lines      int
}

func openSession(tg *target) (*session, error) {
	s := &session{
		tg:         tg,
		id:         fmt.Sprint(sessionIDs.Add(1)),
		start:      time.Now(),
		items:      make(chan item, 64),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := wsraw.Dial(ctx, tg.url+"?c="+s.id)
	if err != nil {
		tg.conns.wait(s.id, serverGoneWait)
		return nil, fmt.Errorf("open the connection: %w", err)
	}
	s.c = c
	// Every read is bounded: the reader gives up a minute after the start,
	// far beyond any case; the pumps below have their own, shorter bounds.
	hard := s.start.Add(time.Minute)
	go func() {
		defer close(s.readerDone)
		for {
			e, err := c.ReadEvent(hard)
			select {
			case s.items <- item{e, err}:
			case <-s.quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return s, nil
}

func (s *session) logf(format string, args ...any) {
	s.lines++
	if s.lines > 80 {
		if s.lines == 81 {
			s.transcript.WriteString("  … (transcript cut)\n")
		}
		return
	}
	fmt.Fprintf(&s.transcript, "  %6.3fs "+format+"\n", append([]any{time.Since(s.start).Seconds()}, args...)...)
}

// ended reports whether the connection is over for the script: the server
// closed (a close frame or TCP) or reading ended.
func (s *session) ended() bool { return s.over || s.serverClose != nil }

// expect adds an alternative judged OK: exactly these events, in order.
func (s *session) expect(evs ...ev) { s.ok = append(s.ok, evs) }

// expectNonStrict adds an alternative judged NON-STRICT.
func (s *session) expectNonStrict(evs ...ev) { s.nonStrict = append(s.nonStrict, evs) }

// send writes frames as ch says, unless the server has closed.
func (s *session) send(ch wsraw.Chop, frames ...wsraw.Frame) {
	if s.ended() || s.sendFailed != nil {
		s.logf("not sent (connection over): %d frame(s)", len(frames))
		return
	}
	if len(frames) <= 6 {
		for _, f := range frames {
			s.logf("send %s", f)
		}
	} else {
		s.logf("send %d frames: %s … %s", len(frames), frames[0], frames[len(frames)-1])
	}
	s.logf("  (%s)", ch)
	for _, f := range frames {
		if f.Opcode == wsraw.OpClose && f.RSV == 0 && f.Fin {
			s.closeSent = true
		}
	}
	if err := s.c.Send(ch, frames...); err != nil {
		s.sendFailed = err
		s.logf("send failed: %v", err)
	}
}

// sendBytes writes raw bytes (a part of a frame) as ch says.
func (s *session) sendBytes(ch wsraw.Chop, p []byte) {
	if s.ended() || s.sendFailed != nil {
		s.logf("not sent (connection over): %d bytes", len(p))
		return
	}
	s.logf("send %d raw bytes (%s)", len(p), ch)
	if err := s.c.SendBytes(ch, p); err != nil {
		s.sendFailed = err
		s.logf("send failed: %v", err)
	}
}

// close sends a close frame.
func (s *session) close(code int, reason string) { s.send(wsraw.Whole, wsraw.Close(code, reason)) }

// pump takes events until until, until done says so, or until reading ends.
func (s *session) pump(until time.Time, done func() bool) {
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	for !s.over {
		if done != nil && done() {
			return
		}
		select {
		case it := <-s.items:
			if it.err != nil {
				s.over, s.endErr, s.end = true, it.err, wsraw.EndOf(it.err)
				s.logf("reading ended: %s (%v)", s.end, it.err)
				return
			}
			s.take(it.e)
		case <-timer.C:
			return
		}
	}
}

func (s *session) pumpFor(d time.Duration, done func() bool) { s.pump(time.Now().Add(d), done) }

// take records one event from the server.
func (s *session) take(e wsraw.Event) {
	s.logf("got %s", e)
	if s.serverClose != nil && e.Kind != wsraw.KindViolation {
		s.violations = append(s.violations, "a frame after the server's close frame: "+e.String())
		return
	}
	switch e.Kind {
	case wsraw.KindMessage:
		s.got = append(s.got, msgEv(e.Opcode, e.Payload))
	case wsraw.KindPong:
		s.got = append(s.got, pongEv(e.Payload))
	case wsraw.KindPing:
		// Not judged (the bindings ping every 48 s, far beyond a case); a
		// client answers it.
		if !s.closeSent {
			s.send(wsraw.Whole, wsraw.Pong(e.Payload))
		}
	case wsraw.KindClose:
		ci := e.Close
		s.serverClose = &ci
		s.serverFirst = !s.closeSent
		if !ci.Valid() {
			s.violations = append(s.violations, "an invalid close frame: "+ci.String())
		}
		if !s.closeSent {
			// Answer, as a client does, with the server's code.
			s.closeSent = true
			reply := wsraw.CloseRaw(nil)
			if ci.HasCode && wsraw.SendableCode(ci.Code) {
				reply = wsraw.Close(ci.Code, "")
			}
			s.logf("answer the close: %s", reply)
			if err := s.c.Send(wsraw.Whole, reply); err != nil {
				s.logf("answer failed (the server may be gone already): %v", err)
			}
		}
	case wsraw.KindViolation:
		s.violations = append(s.violations, e.Detail)
	}
}

// wait is Autobahn's continueLater: it takes events for d and, if the
// connection is still open then, records a timeout event with tag (none
// when tag is empty). It reports whether the connection is still open.
func (s *session) wait(d time.Duration, tag string) bool {
	s.pumpFor(d, s.ended)
	if s.ended() {
		return false
	}
	if tag != "" {
		s.got = append(s.got, timeoutEv(tag))
		s.logf("timeout %s", tag)
	}
	return true
}

// await takes events until there are n, for d at most; it reports whether
// there are, with the connection still open.
func (s *session) await(n int, d time.Duration) bool {
	s.pumpFor(d, func() bool { return len(s.got) >= n || s.ended() })
	return len(s.got) >= n && !s.ended()
}

// settled reports whether the events need no more waiting: they make an
// OK alternative, or can no longer become one.
func (s *session) settled() bool {
	if s.custom != nil {
		_, complete := s.custom(s.got)
		return complete
	}
	for _, alt := range s.ok {
		if equalEvs(alt, s.got) {
			return true
		}
	}
	for _, alt := range s.ok {
		if isPrefix(s.got, alt) {
			return false
		}
	}
	return true
}

// text is what this target echoes a text payload as: p itself, or for a
// JSON target, p as a JSON string when it is valid UTF-8 (invalid UTF-8
// stays raw: the engine must fail it before decoding).
func (s *session) text(p []byte) []byte {
	if !s.tg.json || !utf8.Valid(p) {
		return p
	}
	b, err := json.Marshal(string(p))
	if err != nil {
		panic(err) // a string always marshals
	}
	return b
}

// textParts is text for a message sent in parts (fragments or chops): the
// parts are kept, cut where they were, and a JSON target's quotes go on the
// first and the last.
func (s *session) textParts(parts ...[]byte) [][]byte {
	whole := bytes.Join(parts, nil)
	js := s.text(whole)
	if bytes.Equal(js, whole) {
		return parts
	}
	out := make([][]byte, len(parts))
	if bytes.Equal(js[1:len(js)-1], whole) {
		for i, p := range parts {
			out[i] = append([]byte(nil), p...)
		}
		out[0] = append([]byte(`"`), out[0]...)
		out[len(out)-1] = append(out[len(out)-1], '"')
		return out
	}
	// Escapes changed the length: cut the JSON after the same number of
	// bytes (plus the opening quote), the last part taking the rest.
	at := 0
	for i, p := range parts {
		end := len(js)
		if i < len(parts)-1 {
			end = min(at+len(p)+btoi(i == 0), len(js))
		}
		out[i], at = js[at:end], end
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fill is a text payload of n bytes whose content does not matter (a JSON
// target gets a JSON string of n bytes, at least 2).
func (s *session) fill(n int) []byte {
	if !s.tg.json {
		return bytes.Repeat([]byte("*"), n)
	}
	n = max(n, 2)
	b := bytes.Repeat([]byte("*"), n)
	b[0], b[n-1] = '"', '"'
	return b
}

// echo is the event of this target's echo of a message.
func (s *session) echo(op byte, p []byte) ev { return msgEv(s.tg.echoOp(op), p) }

// caseResult is a case's outcome on one target.
type caseResult struct {
	v          verdict
	problems   []string
	got        []ev
	want       string
	transcript string
	took       time.Duration
}

func (r caseResult) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %.2fs", r.v, r.took.Seconds())
	for _, p := range r.problems {
		b.WriteString("; " + p)
	}
	return b.String()
}

// runCase runs c against tg, from dialling to the server's handler having
// returned, and judges it.
func runCase(tg *target, c confCase) caseResult {
	if !c.timed {
		sessionSlots <- struct{}{}
		defer func() { <-sessionSlots }()
	}
	start := time.Now()
	s, err := openSession(tg)
	if err != nil {
		return caseResult{v: vFailed, problems: []string{err.Error()}, took: time.Since(start)}
	}
	budget := c.budget
	if budget == 0 {
		budget = defaultBudget
	}
	c.run(s)
	switch {
	case s.ended():
	case c.end.serverFirst:
		s.pumpFor(endWait, s.ended)
	case !s.closeSent:
		s.pumpFor(budget, s.settled)
		if !s.ended() {
			s.close(1000, "")
		}
	}
	if s.closeSent || s.serverClose != nil {
		s.pumpFor(endWait, nil) // the closing handshake, then the TCP close
	}
	s.c.Close()
	close(s.quit)
	<-s.readerDone
	if !tg.conns.wait(s.id, serverGoneWait) {
		s.problems = append(s.problems, fmt.Sprintf("the server's handler had not returned %v after the client closed", serverGoneWait))
	}
	res := s.judge(c)
	res.took = time.Since(start)
	return res
}

// judge gives the verdict, as Autobahn does: the events against the
// expected alternatives, then how the connection ended.
func (s *session) judge(c confCase) caseResult {
	res := caseResult{got: s.got, transcript: s.transcript.String()}
	// Problems other than the events fail the case whatever the events.
	problems := append([]string(nil), s.problems...)
	for _, v := range s.violations {
		problems = append(problems, "protocol violation by the server: "+v)
	}
	problems = append(problems, s.judgeEnd(c.end)...)

	behaviour := vFailed
	if s.custom != nil {
		behaviour, _ = s.custom(s.got)
	} else {
		for _, alt := range s.ok {
			if equalEvs(alt, s.got) {
				behaviour = vOK
				break
			}
		}
		if behaviour == vFailed {
			for _, alt := range s.nonStrict {
				if equalEvs(alt, s.got) {
					behaviour = vNonStrict
					break
				}
			}
		}
	}
	var want []string
	for _, alt := range s.ok {
		want = append(want, evsString(alt))
	}
	res.want = strings.Join(want, " or ")
	if s.custom != nil {
		res.want = "(see the case)"
	}
	res.v = behaviour
	if len(problems) > 0 {
		res.v = vFailed
	}
	switch behaviour {
	case vNonStrict:
		problems = append(problems, fmt.Sprintf("NON-STRICT events: got %s, want %s", evsString(s.got), res.want))
	case vFailed:
		problems = append(problems, fmt.Sprintf("events: got %s, want %s", evsString(s.got), res.want))
	}
	res.problems = problems
	return res
}

func codesString(codes []int) string {
	var s []string
	for _, c := range codes {
		if c == noCode {
			s = append(s, "(no code)")
		} else {
			s = append(s, fmt.Sprint(c))
		}
	}
	return strings.Join(s, " or ")
}

func codeAllowed(ci wsraw.CloseInfo, codes []int) bool {
	for _, c := range codes {
		if (c == noCode && !ci.HasCode) || (ci.HasCode && ci.Code == c) {
			return true
		}
	}
	return false
}

// judgeEnd checks how the connection ended against the rule.
func (s *session) judgeEnd(r endRule) []string {
	var problems []string
	howEnded := s.end.String()
	if !s.over {
		howEnded = "still open"
	}
	switch {
	case s.serverClose != nil && s.serverFirst && !r.serverFirst:
		problems = append(problems, fmt.Sprintf("the server closed first, with %s (the client was to close)", s.serverClose))
	case s.serverClose != nil && !codeAllowed(*s.serverClose, r.codes):
		problems = append(problems, fmt.Sprintf("close frame %s, want %s", s.serverClose, codesString(r.codes)))
	case s.serverClose == nil && s.over && s.end != wsraw.EndTimeout:
		switch {
		case r.serverFirst && !s.closeSent && r.drop:
			// The server failed the connection by dropping it: allowed.
		case r.serverFirst && !s.closeSent:
			problems = append(problems, fmt.Sprintf("%s without a close frame, want a close frame with %s", howEnded, codesString(r.codes)))
		case !r.serverFirst && s.closeSent && r.drop:
			// Dropped in answer to a bad close frame: allowed.
		case !s.closeSent:
			problems = append(problems, fmt.Sprintf("%s without a close frame, before the client closed", howEnded))
		default:
			problems = append(problems, fmt.Sprintf("%s without a close frame in answer to the client's, want %s", howEnded, codesString(r.codes)))
		}
	case s.serverClose == nil && r.serverFirst:
		problems = append(problems, fmt.Sprintf("the server did not fail the connection within %v (%s)", endWait, howEnded))
	case s.serverClose == nil:
		problems = append(problems, fmt.Sprintf("no close frame in answer to the client's within %v (%s)", endWait, howEnded))
	}
	if s.serverClose != nil && !s.over {
		problems = append(problems, fmt.Sprintf("the server did not close the TCP connection within %v of the closing handshake", endWait))
	}
	return problems
}

// conformanceResults collects every result, for the summary and the table.
type conformanceResults struct {
	mu      sync.Mutex
	cases   []confCase
	servers []string
	res     map[string]map[string]caseResult // server → case id → result
	notes   map[string]string                // server → why cases are n/a
}

func (cr *conformanceResults) record(server, id string, r caseResult) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.res[server] == nil {
		cr.res[server] = map[string]caseResult{}
	}
	cr.res[server][id] = r
}

func (cr *conformanceResults) get(server, id string) (caseResult, bool) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	r, ok := cr.res[server][id]
	return r, ok
}

// summarise logs, per server, the count of each verdict and the cases that
// did not get OK.
func (cr *conformanceResults) summarise(t *testing.T) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for _, server := range cr.servers {
		counts := map[verdict]int{}
		var notOK []string
		for _, c := range cr.cases {
			r, ok := cr.res[server][c.id]
			if !ok {
				continue
			}
			counts[r.v]++
			if r.v == vNonStrict || r.v == vFailed {
				notOK = append(notOK, c.id)
			}
		}
		if len(counts) == 0 {
			continue
		}
		t.Logf("%s: %d OK, %d NON-STRICT, %d FAILED, %d n/a; not OK: %s", server,
			counts[vOK], counts[vNonStrict], counts[vFailed], counts[vExcluded], strings.Join(notOK, " "))
	}
}

// markdown writes the results as a Markdown table.
func (cr *conformanceResults) markdown(w io.Writer) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	fmt.Fprintf(w, "| case | what | %s |\n|---|---|%s\n", strings.Join(cr.servers, " | "), strings.Repeat("---|", len(cr.servers)))
	for _, c := range cr.cases {
		row := []string{c.id, strings.ReplaceAll(c.what, "|", `\|`)}
		ran := false
		for _, server := range cr.servers {
			r, ok := cr.res[server][c.id]
			ran = ran || ok
			row = append(row, r.v.String())
		}
		if ran {
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		}
	}
	for _, server := range cr.servers {
		if note := cr.notes[server]; note != "" {
			fmt.Fprintf(w, "\nn/a on %s: %s.\n", server, note)
		}
	}
}

// TestConformance runs every case on bare gorilla, then on each binding.
func TestConformance(t *testing.T) {
	cases := conformanceCases()
	results := &conformanceResults{cases: cases, res: map[string]map[string]caseResult{}, notes: map[string]string{}}
	results.servers = append(results.servers, "gorilla")
	for _, b := range bindingTargets {
		results.servers = append(results.servers, b.name)
	}
	t.Cleanup(func() {
		results.summarise(t)
		if *conformanceReport {
			results.markdown(testOutput{})
		}
	})

	t.Run("gorilla", func(t *testing.T) {
		runTarget(t, newGorillaTarget(t, "gorilla", gorillaFlaws{}), cases, results)
	})
	for _, b := range bindingTargets {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runTarget(t, b.make(t, b.name), cases, results)
		})
	}
}

// testOutput is the test binary's standard output.
type testOutput struct{}

func (testOutput) Write(p []byte) (int, error) { return fmt.Print(string(p)) }

// runTarget runs every case against tg, each in its own subtest. A case's
// session starts as its subtest does, before t.Parallel, so that the
// sessions run together whatever -parallel says (it defaults to the number
// of CPUs, and a case mostly waits); sessionSlots bounds them.
func runTarget(t *testing.T, tg *target, cases []confCase, results *conformanceResults) {
	var excluded []string
	for _, c := range cases {
		if c.full && !*conformanceFull {
			continue
		}
		if c.binaryEcho && tg.textOnly != "" {
			excluded = append(excluded, c.id)
			results.record(tg.name, c.id, caseResult{v: vExcluded})
			continue
		}
		t.Run(c.id, func(t *testing.T) {
			resc := make(chan caseResult, 1)
			go func() { resc <- runCase(tg, c) }()
			t.Parallel()
			res := <-resc // runCase is bounded: every wait in it is
			results.record(tg.name, c.id, res)
			if tg.name == "gorilla" {
				if res.v != vOK {
					t.Errorf("%s: %s\nbare gorilla must get OK: the case's expectation is wrong\ntranscript:\n%s", c.what, res.summary(), res.transcript)
				}
				return
			}
			if res.v == vOK {
				return
			}
			if g, ok := results.get("gorilla", c.id); ok && g.v == vNonStrict && res.v == vNonStrict {
				return // as good as gorilla
			}
			t.Errorf("%s: %s\n(bare gorilla gets OK here)\ntranscript:\n%s", c.what, res.summary(), res.transcript)
		})
	}
	if len(excluded) > 0 {
		note := fmt.Sprintf("%s; the cases that need a binary message echoed are excluded", tg.textOnly)
		results.mu.Lock()
		results.notes[tg.name] = note
		results.mu.Unlock()
		t.Logf("%s %s: %s", tg.name, note, strings.Join(excluded, " "))
	}
}

// TestConformanceNoticesFlaws runs a few cases against bare gorilla servers
// broken on purpose: the suite must not judge them OK.
func TestConformanceNoticesFlaws(t *testing.T) {
	byID := map[string]confCase{}
	for _, c := range conformanceCases() {
		byID[c.id] = c
	}
	for _, tc := range []struct {
		name  string
		flaws gorillaFlaws
		id    string
		want  verdict
	}{
		{"echoes invalid UTF-8", gorillaFlaws{noUTF8Check: true}, "6.3.1", vFailed},
		{"echoes invalid UTF-8 in fragments", gorillaFlaws{noUTF8Check: true}, "6.12.1-frames", vFailed},
		{"validates only whole messages", gorillaFlaws{noFailFast: true}, "6.4.1", vNonStrict},
		{"validates only whole messages, chops", gorillaFlaws{noFailFast: true}, "6.4.4", vNonStrict},
		{"answers no ping", gorillaFlaws{noPong: true}, "2.2", vFailed},
		{"answers every close with 1000", gorillaFlaws{close1000: true}, "7.7.2", vFailed},
		{"answers every close with 1000, 4999", gorillaFlaws{close1000: true}, "7.7.13", vFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := byID[tc.id]
			if !ok {
				t.Fatalf("no case %s", tc.id)
			}
			tg := newGorillaTarget(t, tc.name, tc.flaws)
			resc := make(chan caseResult, 1)
			go func() { resc <- runCase(tg, c) }() // as in runTarget
			t.Parallel()
			res := <-resc
			if res.v != tc.want {
				t.Errorf("case %s: %s, want %s\ntranscript:\n%s", tc.id, res.summary(), tc.want, res.transcript)
			}
		})
	}
}
