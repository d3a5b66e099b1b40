package wsraw

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const wait = 5 * time.Second

// pipe returns a Conn reading from one end of a net.Pipe, and the other end.
func pipe(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &Conn{nc: a}, b
}

// feed writes p to w in the background (a net.Pipe write blocks until read).
func feed(t *testing.T, w net.Conn, p []byte) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		w.SetWriteDeadline(time.Now().Add(wait))
		_, err := w.Write(p)
		done <- err
	}()
	t.Cleanup(func() { <-done })
}

func TestFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		Text(nil),
		Text([]byte("Hello, world!")),
		Binary(bytes.Repeat([]byte{0xfe}, 125)),
		Binary(bytes.Repeat([]byte{0xfe}, 126)),
		Binary(bytes.Repeat([]byte{0xfe}, 65535)),
		Binary(bytes.Repeat([]byte{0xfe}, 65536)),
		{Fin: false, RSV: 5, Opcode: 7, Payload: []byte("odd")},
		{Fin: true, Opcode: OpPing, Payload: []byte("p"), Length: Length64},
		{Fin: true, Opcode: OpPong, Payload: []byte("q"), Length: Length16, Unmasked: true},
		Close(1000, "bye"),
	}
	for _, want := range frames {
		c, w := pipe(t)
		data, err := want.Encode(nil)
		if err != nil {
			t.Fatalf("encode %s: %v", want, err)
		}
		feed(t, w, data)
		got, err := c.ReadFrame(time.Now().Add(wait))
		if err != nil {
			t.Fatalf("read %s: %v", want, err)
		}
		if got.Fin != want.Fin || got.RSV != want.RSV || got.Opcode != want.Opcode || !bytes.Equal(got.Payload, want.Payload) || got.Masked == want.Unmasked {
			t.Errorf("read %s, wrote %s (masked %v)", got, want, got.Masked)
		}
	}
}

func TestEncodeRefusesALengthThatDoesNotFit(t *testing.T) {
	if _, err := (Frame{Opcode: OpText, Payload: make([]byte, 126), Length: Length7}).Encode(nil); err == nil {
		t.Error("126 bytes encoded with a 7-bit length")
	}
	if _, err := (Frame{Opcode: OpText, Payload: make([]byte, 65536), Length: Length16}).Encode(nil); err == nil {
		t.Error("65536 bytes encoded with a 16-bit length")
	}
}

func TestReadFrameKeepsAFrameCutByTheDeadline(t *testing.T) {
	c, w := pipe(t)
	data, _ := (Frame{Fin: true, Opcode: OpText, Payload: []byte("split in two"), Unmasked: true}).Encode(nil)
	feed(t, w, data[:5])
	if _, err := c.ReadFrame(time.Now().Add(50 * time.Millisecond)); EndOf(err) != EndTimeout {
		t.Fatalf("half a frame: got %v (%s), want a timeout", err, EndOf(err))
	}
	feed(t, w, data[5:])
	f, err := c.ReadFrame(time.Now().Add(wait))
	if err != nil || string(f.Payload) != "split in two" {
		t.Fatalf("got %v, %v; want the whole frame", f, err)
	}
}

func TestReadEventChecksWhatTheServerSends(t *testing.T) {
	unmasked := func(f Frame) Frame { f.Unmasked = true; return f }
	cases := []struct {
		name   string
		frames []Frame
		want   Kind
		detail string
	}{
		{"message in fragments", []Frame{unmasked(Fragment(OpText, []byte("a"), false)), unmasked(Ping(nil)), unmasked(Continuation([]byte("b"), true))}, KindPing, ""},
		{"masked frame", []Frame{Text([]byte("x"))}, KindViolation, "masked"},
		{"reserved bits", []Frame{unmasked(Frame{Fin: true, RSV: RSV1, Opcode: OpText})}, KindViolation, "reserved bits"},
		{"reserved opcode", []Frame{unmasked(Frame{Fin: true, Opcode: 3})}, KindViolation, "reserved opcode"},
		{"continuation first", []Frame{unmasked(Continuation(nil, true))}, KindViolation, "no message to continue"},
		{"fragmented control", []Frame{unmasked(Frame{Opcode: OpPing})}, KindViolation, "fragmented control"},
		{"long control", []Frame{unmasked(Pong(make([]byte, 126)))}, KindViolation, "over 125"},
		{"text not UTF-8", []Frame{unmasked(Text([]byte{0xff}))}, KindViolation, "UTF-8"},
		{"new message mid-message", []Frame{unmasked(Fragment(OpText, []byte("a"), false)), unmasked(Text([]byte("b")))}, KindViolation, "before the last one's final"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, w := pipe(t)
			data, _, err := EncodeAll(tc.frames...)
			if err != nil {
				t.Fatal(err)
			}
			feed(t, w, data)
			ev, err := c.ReadEvent(time.Now().Add(wait))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tc.want || !strings.Contains(ev.Detail, tc.detail) {
				t.Errorf("got %s, want a %s about %q", ev, tc.want, tc.detail)
			}
			if tc.name == "message in fragments" {
				ev, err := c.ReadEvent(time.Now().Add(wait))
				if err != nil || ev.Kind != KindMessage || string(ev.Payload) != "ab" || ev.Frames != 2 {
					t.Errorf("then got %s, %v; want the message \"ab\" in 2 frames", ev, err)
				}
			}
		})
	}
}

func TestParseClose(t *testing.T) {
	for _, tc := range []struct {
		payload string
		code    int
		valid   bool
	}{
		{"", 0, true},
		{"*", 0, false},
		{"\x03\xe8", 1000, true},
		{"\x03\xe8bye", 1000, true},
		{"\x03\xed", 1005, false},
		{"\x03\xf6", 1014, true},
		{"\x0b\xb8", 3000, true},
		{"\x13\x88", 5000, false},
		{"\x03\xe8\xff", 1000, false},
	} {
		ci := ParseClose([]byte(tc.payload))
		if ci.Code != tc.code || ci.Valid() != tc.valid {
			t.Errorf("%q: got %s, want code %d, valid %v", tc.payload, ci, tc.code, tc.valid)
		}
	}
}

func TestChopsAndEchoWithGorilla(t *testing.T) {
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, p, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(mt, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := bytes.Repeat([]byte("chop"), 1000)
	for _, ch := range []Chop{Whole, FrameWise, OctetWise, Chunks(997), {PerFrame: true, Size: 256, Delay: time.Millisecond}} {
		frames := []Frame{Fragment(OpText, payload[:1500], false), Ping([]byte("p")), Continuation(payload[1500:], true)}
		if ch == OctetWise {
			frames = []Frame{Text(payload[:300])}
		}
		if err := c.Send(ch, frames...); err != nil {
			t.Fatalf("%s: %v", ch, err)
		}
		var got []Event
		for len(got) < len(frames)-1 || (len(frames) == 1 && len(got) < 1) {
			ev, err := c.ReadEvent(time.Now().Add(wait))
			if err != nil {
				t.Fatalf("%s: %v", ch, err)
			}
			got = append(got, ev)
		}
		last := got[len(got)-1]
		if last.Kind != KindMessage || !bytes.Equal(last.Payload, bytes.Join(payloadsOf(frames), nil)) {
			t.Errorf("%s: got %v", ch, got)
		}
	}
	if err := c.Send(Whole, Close(1000, "")); err != nil {
		t.Fatal(err)
	}
	ev, err := c.ReadEvent(time.Now().Add(wait))
	if err != nil || ev.Kind != KindClose || ev.Close.Code != 1000 {
		t.Fatalf("got %s, %v; want close 1000", ev, err)
	}
	if _, err := c.ReadEvent(time.Now().Add(wait)); EndOf(err) != EndEOF {
		t.Fatalf("after the close: %v (%s), want EOF", err, EndOf(err))
	}
}

func payloadsOf(frames []Frame) [][]byte {
	var ps [][]byte
	for _, f := range frames {
		if !IsControl(f.Opcode) {
			ps = append(ps, f.Payload)
		}
	}
	return ps
}

func TestDialChecksTheAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(wait))
		br := bufio.NewReader(nc)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := Dial(ctx, "ws://"+ln.Addr().String()+"/"); err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Fatalf("got %v, want an error about Sec-WebSocket-Accept", err)
	}
}
