package sockets

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

func TestDisconnectSendsTheCode(t *testing.T) {
	tests := []struct {
		sent, want int
	}{
		{websocket.CloseNormalClosure, websocket.CloseNormalClosure},
		{websocket.ClosePolicyViolation, websocket.ClosePolicyViolation},
		{4000, 4000},
		// Codes RFC 6455 keeps off the wire become 1011, never 1006.
		{websocket.CloseAbnormalClosure, websocket.CloseInternalServerErr},
		{websocket.CloseNoStatusReceived, websocket.CloseInternalServerErr},
		{999, websocket.CloseInternalServerErr},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(0)+string(rune('0'+tt.sent%10))+"_"+itoa(tt.sent), func(t *testing.T) {
			doneFired := make(chan bool, 1)
			ts := newTestServer(t, Messages(quiet()), func(disconnect chan<- int, done <-chan bool) {
				disconnect <- tt.sent
				doneFired <- <-done
			})
			ws := ts.dial(t, nil)
			if got := readClose(t, ws); got != tt.want {
				t.Errorf("close code: got %d, want %d", got, tt.want)
			}
			if !recv(t, doneFired, "done") {
				t.Error("done delivered false, want true")
			}
			ts.waitFinished(t, 1)
		})
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestHandlerReturnClosesWith1000(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), func() {})
	ws := ts.dial(t, nil)
	if got := readClose(t, ws); got != websocket.CloseNormalClosure {
		t.Errorf("close code: got %d, want 1000", got)
	}
	ts.waitFinished(t, 1)
}

// A handler that returns a value (as in the old examples) must not make
// Macaron write to the hijacked connection.
func TestReturnValueIsNotWrittenAfterUpgrade(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), func(sender chan<- string) (int, string) {
		sender <- "last"
		return http.StatusOK, "this must not reach the socket"
	})
	ws := ts.dial(t, nil)
	if _, got := readText(t, ws); got != "last" {
		t.Errorf("got %q, want \"last\"", got)
	}
	if got := readClose(t, ws); got != websocket.CloseNormalClosure {
		t.Errorf("close code: got %d, want 1000 (garbage on the wire?)", got)
	}
	ts.waitFinished(t, 1)
	if log := ts.errLog.String(); log != "" {
		t.Errorf("server logged %q, want nothing (a write after hijack?)", log)
	}
}

func TestClientCloseFiresDonePromptly(t *testing.T) {
	doneAt := make(chan time.Time, 1)
	ts := newTestServer(t, Messages(quiet()), func(done <-chan bool) {
		<-done
		doneAt <- time.Now()
	})
	ws := ts.dial(t, nil)
	start := time.Now()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), timeIn())
	if code := readClose(t, ws); code != websocket.CloseNormalClosure {
		t.Errorf("close reply: got %d, want 1000", code)
	}
	if d := recv(t, doneAt, "done").Sub(start); d > time.Second {
		t.Errorf("done fired after %v, want under 1s", d)
	}
	ts.waitFinished(t, 1)
}

func TestVanishedClientFiresDonePromptly(t *testing.T) {
	doneAt := make(chan time.Time, 1)
	errs := make(chan error, 1)
	ts := newTestServer(t, Messages(quiet()), func(done <-chan bool, e <-chan error) {
		<-done
		doneAt <- time.Now()
		errs <- <-e
	})
	ws := ts.dial(t, nil)
	start := time.Now()
	ws.NetConn().Close() // no close frame
	if d := recv(t, doneAt, "done").Sub(start); d > time.Second {
		t.Errorf("done fired after %v, want under 1s", d)
	}
	if err := recv(t, errs, "error"); !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("error: got %v, want connection lost", err)
	}
	ts.waitFinished(t, 1)
}

func TestSilentClientIsDroppedAfterPongWait(t *testing.T) {
	opts := quiet()
	opts.PongWait = 300 * time.Millisecond
	opts.PingPeriod = 100 * time.Millisecond
	doneAt := make(chan time.Time, 1)
	ts := newTestServer(t, Messages(opts), func(done <-chan bool) {
		<-done
		doneAt <- time.Now()
	})
	ws := ts.dial(t, nil)
	_ = ws // never read: gorilla answers pings only while reading
	start := time.Now()
	d := recv(t, doneAt, "done").Sub(start)
	if d < opts.PongWait/2 || d > opts.PongWait+2*time.Second {
		t.Errorf("silent client dropped after %v, want about PongWait (%v)", d, opts.PongWait)
	}
	ts.waitFinished(t, 1)
}

func TestAnsweringClientStaysPastPongWait(t *testing.T) {
	opts := quiet()
	opts.PongWait = 200 * time.Millisecond
	opts.PingPeriod = 50 * time.Millisecond
	ts := newTestServer(t, Messages(opts), echoStrings)
	ws := ts.dial(t, nil)
	// Reading answers pings; stay connected for several PongWaits.
	go func() {
		time.Sleep(4 * opts.PongWait)
		ws.WriteMessage(websocket.TextMessage, []byte("still here"))
	}()
	if _, got := readText(t, ws); got != "still here" {
		t.Errorf("got %q", got)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestDoneDeliversTrueOnceThenIsClosed(t *testing.T) {
	result := make(chan [2]bool, 1)
	ts := newTestServer(t, Messages(quiet()), func(done <-chan bool) {
		first := <-done
		second, open := <-done // must not block
		result <- [2]bool{first, second || open}
	})
	ws := ts.dial(t, nil)
	ws.Close()
	got := recv(t, result, "done twice")
	if !got[0] || got[1] {
		t.Errorf("got first %v, then value-or-open %v; want true, then a closed channel", got[0], got[1])
	}
	ts.waitFinished(t, 1)
}

func TestUnreadErrorsNeverStallTheConnection(t *testing.T) {
	ts := newTestServer(t, JSON(message{}, quiet()), echo[*message]) // errs is never read
	ws := ts.dial(t, nil)
	for i := 0; i < 5*defaultErrorChannelBuffer; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte("not json"))
	}
	ws.WriteJSON(message{Seq: 9})
	if _, got := readText(t, ws); got != `{"seq":9,"text":""}` {
		t.Errorf("got %s, want the valid message after the bad ones", got)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestOversizeMessageCloses1009(t *testing.T) {
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "compressed"
		}
		t.Run(name, func(t *testing.T) {
			opts := quiet()
			opts.MaxMessageSize = 1024
			opts.EnableCompression = compress
			errs := make(chan error, 1)
			ts := newTestServer(t, Messages(opts), func(done <-chan bool, e <-chan error) {
				<-done
				errs <- <-e
			})
			d := websocket.Dialer{HandshakeTimeout: waitTimeout, EnableCompression: compress}
			ws, _, err := d.Dial(ts.wsURL(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			// Zeros compress to far below the limit: the decompressed size counts.
			payload := bytes.Repeat([]byte{'0'}, 1<<20)
			if !compress {
				payload = payload[:2000]
			}
			ws.WriteMessage(websocket.TextMessage, payload)
			if got := readClose(t, ws); got != websocket.CloseMessageTooBig {
				t.Errorf("close code: got %d, want 1009", got)
			}
			if err := recv(t, errs, "error"); !errors.Is(err, ErrMessageTooBig) {
				t.Errorf("error: got %v, want ErrMessageTooBig", err)
			}
			ts.waitFinished(t, 1)
		})
	}
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	errs := make(chan error, 1)
	ts := newTestServer(t, Messages(quiet()), func(done <-chan bool, e <-chan error) {
		<-done
		errs <- <-e
	})
	ws := ts.dial(t, nil)
	ws.WriteMessage(websocket.TextMessage, []byte{'o', 'k', 0xff, 0xfe})
	if got := readClose(t, ws); got != websocket.CloseInvalidFramePayloadData {
		t.Errorf("close code: got %d, want 1007", got)
	}
	if err := recv(t, errs, "error"); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("error: got %v, want ErrInvalidUTF8", err)
	}
	ts.waitFinished(t, 1)
}

func TestHandlerPanicCloses1011AndOthersLiveOn(t *testing.T) {
	logs := &syncBuffer{}
	opts := quiet()
	opts.Logger.SetOutput(logs)
	ts := newTestServer(t, Messages(opts), func(receiver <-chan string, sender chan<- string, done <-chan bool) {
		for {
			select {
			case m := <-receiver:
				if m == "panic" {
					panic("handler bug")
				}
				sender <- m
			case <-done:
				return
			}
		}
	})
	other := ts.dial(t, nil)
	victim := ts.dial(t, nil)
	victim.WriteMessage(websocket.TextMessage, []byte("panic"))
	if got := readClose(t, victim); got != websocket.CloseInternalServerErr {
		t.Errorf("close code: got %d, want 1011", got)
	}
	other.WriteMessage(websocket.TextMessage, []byte("fine"))
	if _, got := readText(t, other); got != "fine" {
		t.Errorf("other connection: got %q", got)
	}
	third := ts.dial(t, nil)
	third.Close()
	other.Close()
	ts.waitFinished(t, 3)
	if l := logs.String(); !strings.Contains(l, "handler bug") || !strings.Contains(l, "goroutine") {
		t.Errorf("log: got %q, want the panic with its stack", l)
	}
}

func TestLongCloseTextIsCut(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := closeFrameText(long)
	if len(got) > 123 || !strings.HasPrefix(long, got) || !utf8.ValidString(got) {
		t.Errorf("got %d bytes %q", len(got), got)
	}
	ts := newTestServer(t, Messages(quiet()), func(c *Conn, done <-chan bool) {
		c.Close(4001, long)
		<-done
	})
	ws := ts.dial(t, nil)
	if code := readClose(t, ws); code != 4001 {
		t.Errorf("close code with a long text: got %d, want 4001", code)
	}
	ts.waitFinished(t, 1)
}

// A client that sends steadily but never reads never answers a ping; its
// messages show it is alive, so it stays (martini-sockets and
// go-macaron/sockets kept it too).
func TestClientThatSendsButNeverReadsStays(t *testing.T) {
	opts := quiet()
	opts.PongWait = 300 * time.Millisecond
	opts.PingPeriod = 100 * time.Millisecond
	got := make(chan string, 100)
	errs := make(chan error, 10)
	ts := newTestServer(t, Messages(opts), serveUntilDone(errs, func(m string, _ chan<- string) { got <- m }))
	ws := ts.dial(t, nil)
	const n = 30 // 50 ms apart: 1.5 s, five PongWaits
	for i := 0; i < n; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("message %d: %v (dropped for not answering pings?)", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < n; i++ {
		if m := recv(t, got, "a message"); m != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, m)
		}
	}
	noErrorReported(t, errs)
	ws.Close()
	ts.waitFinished(t, 1)
}

// While the handler is busy, the reader waits with a message and reads
// nothing, pongs included. That is backpressure, not a silent client: the
// connection must survive a handler busy for longer than PongWait.
func TestBusyHandlerDoesNotDropAClientThatAnswersPings(t *testing.T) {
	opts := quiet()
	opts.PongWait = 300 * time.Millisecond
	opts.PingPeriod = 100 * time.Millisecond
	opts.RecvChannelBuffer = -1
	errs := make(chan error, 10)
	ts := newTestServer(t, Messages(opts), serveUntilDone(errs, func(m string, sender chan<- string) {
		if m == "slow" {
			time.Sleep(3 * opts.PongWait)
		}
		sender <- m
	}))
	ws := ts.dial(t, nil)
	echoes := make(chan string, 10)
	go func() { // reading answers pings
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				close(echoes)
				return
			}
			echoes <- string(m)
		}
	}()
	send := func(m string) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	send("slow")
	send("waits in the reader")
	for _, want := range []string{"slow", "waits in the reader", "after"} {
		if want == "after" {
			// Sent once the reader is back to reading the socket, past
			// the deadline it had when it began to wait.
			send("after")
		}
		select {
		case m, ok := <-echoes:
			if !ok {
				t.Fatalf("connection ended before %q came back", want)
			}
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no echo of %q", want)
		}
	}
	// And the deadline runs again once the handler is free: still alive
	// after a few more PongWaits of pings.
	time.Sleep(3 * opts.PongWait)
	ws.WriteMessage(websocket.TextMessage, []byte("still here"))
	select {
	case m, ok := <-echoes:
		if !ok || m != "still here" {
			t.Fatalf("got %q (open %v)", m, ok)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no echo of \"still here\"")
	}
	noErrorReported(t, errs)
	ws.Close()
	ts.waitFinished(t, 1)
}

// noErrorReported fails the test if errs holds an error.
func noErrorReported(t *testing.T, errs <-chan error) {
	t.Helper()
	select {
	case err := <-errs:
		t.Errorf("errs: %v", err)
	default:
	}
}

// Payloads are logged at Debug only, including in the warning about an
// error dropped because the errors channel is full.
func TestDroppedErrorsAreLoggedWithoutPayload(t *testing.T) {
	logs := &syncBuffer{}
	opts := &Options{Logger: log.New(logs, "", 0), LogLevel: LogLevelWarning, ErrorChannelBuffer: 1}
	ts := newTestServer(t, JSON(message{}, opts), echo[*message]) // errs is never read
	ws := ts.dial(t, nil)
	for i := 0; i < 3; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte(`{"text":"password=hunter2"`))
	}
	ws.WriteJSON(message{Seq: 1})
	var got message
	ws.SetReadDeadline(timeIn())
	if err := ws.ReadJSON(&got); err != nil || got.Seq != 1 {
		t.Fatalf("echo after the bad messages: %+v, %v", got, err)
	}
	ws.Close()
	ts.waitFinished(t, 1)
	out := logs.String()
	if !strings.Contains(out, "errors channel full") {
		t.Fatalf("no warning about the full errors channel in %q", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("a payload was logged above Debug: %q", out)
	}
}

// A message followed at once by the client's close, or by a fault in what
// it sends next: the handler's reply to the message goes out before the
// close frame (RFC 6455 §7.1.7 lets the fault wait that long; bare gorilla
// echoes on its reading goroutine, so its replies always come first).
func TestRepliesGoBeforeTheCloseFrame(t *testing.T) {
	hello := frame(finBit|opText, []byte("hello"), 0)
	cases := []struct {
		name string
		next []byte
		code int
	}{
		{"client close", frame(finBit|opClose, closeBody(1000, ""), 0), 1000},
		{"reserved bit", frame(finBit|rsv2Bit|opText, []byte("x"), 0), websocket.CloseProtocolError},
		{"reserved opcode", frame(finBit|5, nil, 0), websocket.CloseProtocolError},
		{"continuation with nothing to continue", frame(opContinu, []byte("x"), 0), websocket.CloseProtocolError},
		{"invalid UTF-8", frame(finBit|opText, []byte("\xff"), 0), websocket.CloseInvalidFramePayloadData},
		{"too big", frame(finBit|opBinary, make([]byte, 200), 0), websocket.CloseMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := quiet()
			opts.MaxMessageSize = 100
			ts := newTestServer(t, Messages(opts), echoStrings)
			ws := ts.dial(t, nil)
			if _, err := ws.NetConn().Write(cat(hello, tc.next)); err != nil {
				t.Fatal(err)
			}
			ws.SetReadDeadline(timeIn())
			_, got, err := ws.ReadMessage()
			if err != nil || string(got) != "hello" {
				t.Fatalf("got %q, %v; want the echo of hello before the close", got, err)
			}
			if code := readClose(t, ws); code != tc.code {
				t.Errorf("close %d, want %d", code, tc.code)
			}
			ts.waitFinished(t, 1)
		})
	}
}
