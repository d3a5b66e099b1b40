package sockets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// frame builds one client frame: b0 is FIN, RSV and opcode; the payload is
// masked with a fixed key; length encodings as RFC 6455 §5.2 gives them,
// or forced with lenForm (0: shortest, 126, 127).
func frame(b0 byte, payload []byte, lenForm int) []byte {
	out := []byte{b0}
	n := len(payload)
	switch {
	case lenForm == 127 || (lenForm == 0 && n > 0xffff):
		out = append(out, maskBit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	case lenForm == 126 || (lenForm == 0 && n > 125):
		out = append(out, maskBit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, maskBit|byte(n))
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key[:]...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func closeBody(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// Each case: the bytes a client sends, and whether frameCheck must find a
// fault (with its code) and withhold exactly the bytes from the deciding
// one on.
func TestFrameCheck(t *testing.T) {
	text := frame(finBit|opText, []byte("hello"), 0)
	cases := []struct {
		name   string
		in     []byte
		code   int // 0: no fault
		passed int // bytes let through, when there is a fault
	}{
		{"text", text, 0, 0},
		{"empty text", frame(finBit|opText, nil, 0), 0, 0},
		{"binary, 16-bit length", frame(finBit|opBinary, make([]byte, 100), 126), 0, 0},
		{"fragments with a ping between", cat(frame(opText, []byte("a"), 0), frame(finBit|opPing, []byte("p"), 0), frame(finBit|opContinu, []byte("b"), 0)), 0, 0},
		{"RSV2 after a message", cat(text, frame(finBit|rsv2Bit|opText, []byte("x"), 0)), 1002, len(text) + 1},
		{"RSV1 without deflate", frame(finBit|rsv1Bit|opText, []byte("x"), 0), 1002, 1},
		{"opcode 5", cat(text, frame(finBit|5, nil, 0)), 1002, len(text) + 1},
		{"opcode 11", frame(finBit|11, nil, 0), 1002, 1},
		{"unmasked", []byte{finBit | opText, 1, 'x'}, 1002, 1},
		{"ping of 126 bytes", frame(finBit|opPing, make([]byte, 126), 0), 1002, 1},
		{"fragmented ping", frame(opPing, []byte("p"), 0), 1002, 1},
		{"continuation with nothing to continue", frame(finBit|opContinu, []byte("x"), 0), 1002, 1},
		{"text inside a fragmented message", cat(frame(opText, []byte("a"), 0), frame(finBit|opText, []byte("b"), 0)), 1002, 8},
		{"close 1000", frame(finBit|opClose, closeBody(1000, "bye"), 0), 0, 0},
		{"empty close", frame(finBit|opClose, nil, 0), 0, 0},
		{"close with one byte", frame(finBit|opClose, []byte{3}, 0), 1002, 6},
		{"close 1005", frame(finBit|opClose, closeBody(1005, ""), 0), 1002, 7},
		{"close 999", frame(finBit|opClose, closeBody(999, ""), 0), 1002, 7},
		{"close 2999", frame(finBit|opClose, closeBody(2999, ""), 0), 1002, 7},
		{"close 4999", frame(finBit|opClose, closeBody(4999, ""), 0), 0, 0},
		{"close reason not UTF-8", frame(finBit|opClose, closeBody(1000, "\xff"), 0), 1002, 8},
		{"junk after a close is not read", cat(frame(finBit|opClose, nil, 0), []byte{0xff, 0xff}), 0, 0},
		{"64-bit length with the top bit set", append([]byte{finBit | opBinary, maskBit | 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, 1, 2, 3, 4), 1002, 13},
		{"over the limit", frame(finBit|opBinary, make([]byte, 101), 0), 1009, 5},
		{"over the limit across fragments", cat(frame(opBinary, make([]byte, 60), 0), frame(finBit|opContinu, make([]byte, 41), 0)), 1009, 66 + 5},
		{"at the limit across fragments", cat(frame(opBinary, make([]byte, 60), 0), frame(finBit|opContinu, make([]byte, 40), 0)), 0, 0},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 3, 1 << 20} {
			f := newFrameCheck(100, false)
			passed := 0
			var fault *protocolError
			for i := 0; i < len(tc.in) && fault == nil; i += chunk {
				end := min(i+chunk, len(tc.in))
				n, err := f.feed(tc.in[i:end])
				passed += n
				fault = err
			}
			switch {
			case tc.code == 0 && fault != nil:
				t.Errorf("%s (chunks of %d): fault %v, want none", tc.name, chunk, fault)
			case tc.code != 0 && fault == nil:
				t.Errorf("%s (chunks of %d): no fault, want %d", tc.name, chunk, tc.code)
			case tc.code != 0 && (fault.code != tc.code || passed != tc.passed):
				t.Errorf("%s (chunks of %d): fault %d %q after %d bytes, want %d after %d", tc.name, chunk, fault.code, fault.text, passed, tc.code, tc.passed)
			}
		}
	}
}

// RSV1 marks a compressed message's first frame, nothing else.
func TestFrameCheckDeflate(t *testing.T) {
	f := newFrameCheck(1000, true)
	if _, err := f.feed(frame(finBit|rsv1Bit|opText, []byte("x"), 0)); err != nil {
		t.Fatalf("RSV1 on a message: %v", err)
	}
	if _, err := f.feed(cat(frame(rsv1Bit|opText, []byte("x"), 0), frame(finBit|rsv1Bit|opContinu, []byte("y"), 0))); err == nil {
		t.Fatal("RSV1 on a continuation frame: no fault")
	}
	f = newFrameCheck(1000, true)
	if _, err := f.feed(frame(finBit|rsv1Bit|opPing, nil, 0)); err == nil {
		t.Fatal("RSV1 on a ping: no fault")
	}
}

// gorillaReads serves in as a client's bytes to a gorilla server
// connection with the given read limit, reads messages until an error, and
// reports whether gorilla found a protocol fault (it then writes a close
// frame with 1002 or 1009 of its own) and whether it saw a close frame.
func gorillaReads(t testing.TB, in []byte, limit int64) (fault, closed bool) {
	t.Helper()
	w := &fakeHijack{in: bytes.NewReader(in)}
	r := &http.Request{Method: http.MethodGet, Header: http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}}
	u := websocket.Upgrader{ReadBufferSize: 256}
	ws, err := u.Upgrade(w, r, nil)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	ws.SetReadLimit(limit)
	for {
		_, rd, err := ws.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, rd)
		}
		if err != nil {
			var ce *websocket.CloseError
			closed = errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure
			break
		}
	}
	out := w.out.Bytes()
	if i := bytes.Index(out, []byte("\r\n\r\n")); i >= 0 {
		out = out[i+4:]
	}
	// Any close frame gorilla wrote on its own, but the answer to the
	// client's close (which echoes its code), is a fault it found.
	for len(out) >= 2 {
		n := int(out[1] & 0x7f)
		if out[0]&0xf == opClose && n >= 2 && !closed {
			code := binary.BigEndian.Uint16(out[2:4])
			if code == websocket.CloseProtocolError || code == websocket.CloseMessageTooBig {
				fault = true
			}
		}
		if len(out) < 2+n {
			break
		}
		out = out[2+n:]
	}
	return fault, closed
}

// fakeHijack is a ResponseWriter whose hijacked connection reads in and
// records what is written.
type fakeHijack struct {
	http.ResponseWriter
	in  io.Reader
	out bytes.Buffer
}

func (f *fakeHijack) Header() http.Header { return http.Header{} }

func (f *fakeHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := &pipeConn{r: f.in, w: &f.out}
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
}

type pipeConn struct {
	net.Conn
	r io.Reader
	w io.Writer
}

func (p *pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error)      { return p.w.Write(b) }
func (p *pipeConn) Close() error                     { return nil }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// frameCheck against gorilla itself, on any input: whenever gorilla would
// find a fault, frameCheck finds one first, so that gorilla, given only
// the bytes frameCheck lets through, never answers a fault on its own; and
// frameCheck finds none where gorilla reads on, but for the stricter rules
// of RFC 6455 it documents.
func FuzzFrameCheck(f *testing.F) {
	text := frame(finBit|opText, []byte("hello"), 0)
	for _, seed := range [][]byte{
		text,
		cat(text, frame(finBit|rsv2Bit|opText, []byte("x"), 0), frame(finBit|opPing, nil, 0)),
		cat(frame(opText, []byte("a"), 0), frame(finBit|opPing, []byte("p"), 0), frame(finBit|opContinu, []byte("b"), 0)),
		frame(finBit|opClose, closeBody(1000, "bye"), 0),
		frame(finBit|opClose, closeBody(1005, ""), 0),
		frame(finBit|opClose, []byte{3}, 0),
		frame(finBit|opBinary, make([]byte, 200), 127),
		cat(frame(opBinary, make([]byte, 60), 0), frame(finBit|opContinu, make([]byte, 41), 0)),
		frame(finBit|opPong, make([]byte, 126), 126),
	} {
		f.Add(seed, uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const limit = 100
		c := newFrameCheck(limit, false)
		step := int(chunk%16) + 1
		passed := 0
		var fault *protocolError
		for i := 0; i < len(in) && fault == nil; i += step {
			n, err := c.feed(in[i:min(i+step, len(in))])
			passed += n
			fault = err
		}
		if fault != nil && passed > len(in) {
			t.Fatalf("passed %d of %d bytes", passed, len(in))
		}
		gFault, _ := gorillaReads(t, in, limit)
		if gFault && fault == nil {
			t.Fatalf("gorilla finds a fault in %x, frameCheck none", in)
		}
		if fault != nil {
			if pf, _ := gorillaReads(t, in[:passed], limit); pf {
				t.Fatalf("gorilla finds a fault in the %d bytes passed of %x (frameCheck: %v)", passed, in, fault)
			}
			if !gFault && !stricterThanGorilla(fault) {
				t.Fatalf("frameCheck finds %v in %x, gorilla reads on", fault, in)
			}
		}
	})
}

// stricterThanGorilla reports whether fault is one of the rules frameCheck
// keeps and gorilla does not.
func stricterThanGorilla(fault *protocolError) bool {
	return strings.Contains(fault.text, "one byte") || strings.Contains(fault.text, "most significant bit")
}
