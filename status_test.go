package sockets

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// ending is what the handler saw of a connection's end.
type ending struct {
	status *CloseError
	errs   []error
}

// statusServer serves connections whose handler collects errors until
// done, then reports the connection's CloseError with them. The handler
// sends a code on disconnect when the client's first message is "disconnect
// N", returns when it is "return", and echoes anything else.
func statusServer(t *testing.T, opts *Options) (*testServer, chan ending) {
	ends := make(chan ending, 1)
	ts := newTestServer(t, Messages(opts), func(c *Conn, receiver <-chan string, sender chan<- string, done <-chan bool, disconnect chan<- int, errs <-chan error) {
		var seen []error
		for {
			select {
			case m := <-receiver:
				switch {
				case m == "return":
					ends <- ending{nil, nil}
					return
				case strings.HasPrefix(m, "disconnect "):
					disconnect <- atoiOr(strings.TrimPrefix(m, "disconnect "), 0)
				default:
					sender <- m
				}
			case err := <-errs:
				seen = append(seen, err)
			case <-done:
				if c.CloseError() == nil {
					t.Error("CloseError is nil once done fired")
				}
				// errs is filled before done: take what is there.
				for len(errs) > 0 {
					seen = append(seen, <-errs)
				}
				ends <- ending{c.CloseError(), seen}
				return
			}
		}
	})
	return ts, ends
}

func atoiOr(s string, def int) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// How a connection ended is readable after done, and a fault is reported
// on errs as the same *CloseError, which errors.Is and errors.As see into.
func TestCloseErrorSaysHowItEnded(t *testing.T) {
	cases := []struct {
		name     string
		opts     func(*Options)
		client   func(t *testing.T, ws *websocket.Conn)
		code     int
		byClient bool
		fault    error  // errors.Is on the status and on what errs reported; nil: no fault
		text     string // in the fault's message
	}{
		{"handler sends 4001", nil, func(t *testing.T, ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte("disconnect 4001"))
			readClose(t, ws)
		}, 4001, false, nil, ""},
		{"client closes 1000", nil, func(t *testing.T, ws *websocket.Conn) {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), timeIn())
			if got := readClose(t, ws); got != 1000 {
				t.Errorf("close reply %d, want 1000", got)
			}
		}, 1000, true, nil, ""},
		{"client closes 4000", nil, func(t *testing.T, ws *websocket.Conn) {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "my reason"), timeIn())
			if got := readClose(t, ws); got != 4000 {
				t.Errorf("close reply %d, want the client's 4000", got)
			}
		}, 4000, true, errAny, "4000"},
		{"client goes away", nil, func(t *testing.T, ws *websocket.Conn) {
			ws.NetConn().Close()
		}, websocket.CloseAbnormalClosure, true, errAny, "connection lost"},
		{"message too big", func(o *Options) { o.MaxMessageSize = 10 }, func(t *testing.T, ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte("more than ten bytes"))
			if got := readClose(t, ws); got != websocket.CloseMessageTooBig {
				t.Errorf("close %d, want 1009", got)
			}
		}, websocket.CloseMessageTooBig, false, ErrMessageTooBig, ""},
		{"invalid UTF-8", nil, func(t *testing.T, ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte("\xff"))
			readClose(t, ws)
		}, websocket.CloseInvalidFramePayloadData, false, ErrInvalidUTF8, ""},
		{"reserved bit", nil, func(t *testing.T, ws *websocket.Conn) {
			ws.NetConn().Write(frame(finBit|rsv2Bit|opText, []byte("x"), 0))
			if got := readClose(t, ws); got != websocket.CloseProtocolError {
				t.Errorf("close %d, want 1002", got)
			}
		}, websocket.CloseProtocolError, false, ErrProtocol, "RSV2"},
		{"silent client", func(o *Options) { o.PongWait, o.PingPeriod = 300*time.Millisecond, 200*time.Millisecond }, func(t *testing.T, ws *websocket.Conn) {
			ws.SetPingHandler(func(string) error { return nil }) // never answers
			ws.SetReadDeadline(timeIn())
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}, websocket.CloseAbnormalClosure, false, errAny, "PongWait"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := quiet()
			if tc.opts != nil {
				tc.opts(opts)
			}
			ts, ends := statusServer(t, opts)
			ws := ts.dial(t, nil)
			tc.client(t, ws)
			end := recv(t, ends, "the end")
			st := end.status
			if st.Code != tc.code || st.ByClient != tc.byClient {
				t.Errorf("status %+v, want code %d, by client %v", st, tc.code, tc.byClient)
			}
			switch {
			case tc.fault == nil:
				if st.Err != nil || len(end.errs) != 0 {
					t.Errorf("a normal close has a fault: %v, errs %v", st.Err, end.errs)
				}
			default:
				if st.Err == nil || !strings.Contains(st.Error(), tc.text) {
					t.Errorf("fault %v, want one mentioning %q", st.Err, tc.text)
				}
				if tc.fault != errAny && !errors.Is(st, tc.fault) {
					t.Errorf("errors.Is(%v, %v) is false", st, tc.fault)
				}
				if len(end.errs) != 1 {
					t.Fatalf("errs reported %v, want the one fault", end.errs)
				}
				var reported *CloseError
				if !errors.As(end.errs[0], &reported) || reported != st {
					t.Errorf("errs reported %v, want the status itself", end.errs[0])
				}
			}
			ts.waitFinished(t, 1)
		})
	}
}

var errAny = errors.New("any fault")

// A write that times out is reported as one, not as a missing pong.
func TestWriteTimeoutIsReportedAsOne(t *testing.T) {
	opts := quiet()
	opts.WriteWait = 200 * time.Millisecond
	ends := make(chan *CloseError, 1)
	ts := newTestServer(t, Messages(opts), func(c *Conn, sender chan<- string, done <-chan bool) {
		chunk := strings.Repeat("x", 64<<10)
		for {
			select {
			case sender <- chunk:
			case <-done:
				ends <- c.CloseError()
				return
			}
		}
	})
	ws := ts.dial(t, nil)
	_ = ws // never reads
	st := recv(t, ends, "the end")
	if st.Code != websocket.CloseAbnormalClosure || st.ByClient || !strings.Contains(st.Error(), "write timed out") || !isTimeout(st) {
		t.Errorf("got %v (%+v), want a write timeout on the server's side", st, st)
	}
	ts.waitFinished(t, 1)
}
