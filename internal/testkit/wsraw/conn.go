package wsraw

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// acceptGUID is the GUID of RFC 6455 §1.3 that the server appends to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Defaults of a Conn's bounds.
const (
	// DefaultHandshakeTimeout bounds the opening handshake when the
	// context given to Dial has no deadline.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds each write.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxPayload bounds a frame, and a message, read from the server.
	DefaultMaxPayload = 64 << 20
)

// Conn is a client connection whose opening handshake is done. It is not
// safe for concurrent use, except that one goroutine may read (ReadFrame,
// ReadEvent) while another writes (Send, SendBytes), and Close may be called
// from any goroutine.
type Conn struct {
	nc net.Conn

	// WriteTimeout bounds each write (DefaultWriteTimeout when zero).
	WriteTimeout time.Duration
	// MaxPayload bounds a frame or message read (DefaultMaxPayload when
	// zero); a larger one is an error.
	MaxPayload int

	// buf[r:] is what was read from the network and not parsed yet; it
	// survives a read deadline, so a frame cut by a timeout is read whole
	// by the next call.
	buf []byte
	r   int

	// the message being reassembled
	inMessage bool
	msgOp     byte
	msg       []byte
	msgFrames int
}

// Dial connects to a ws:// URL and performs the opening handshake by hand
// (RFC 6455 §4.1): a GET with Upgrade, Connection, Sec-WebSocket-Key and
// Sec-WebSocket-Version 13, then a check of the 101 answer and its
// Sec-WebSocket-Accept. The handshake is bounded by ctx's deadline, or by
// DefaultHandshakeTimeout.
func Dial(ctx context.Context, rawURL string) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("wsraw: parse %q: %w", rawURL, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("wsraw: %q: only ws:// is supported", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultHandshakeTimeout)
	}
	var d net.Dialer
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("wsraw: dial %s: %w", host, err)
	}
	c := &Conn{nc: nc}
	if err := c.handshake(u, deadline); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) handshake(u *url.URL, deadline time.Time) error {
	var keyBytes [16]byte
	if _, err := rand.Read(keyBytes[:]); err != nil {
		return fmt.Errorf("wsraw: handshake key: %w", err)
	}
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n"
	c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	if _, err := io.WriteString(c.nc, req); err != nil {
		return fmt.Errorf("wsraw: write handshake: %w", err)
	}
	br := bufio.NewReader(c.nc)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return fmt.Errorf("wsraw: read handshake status: %w", err)
	}
	proto, rest, _ := strings.Cut(status, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") || code != "101" {
		return fmt.Errorf("wsraw: handshake answered %q, want 101", status)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return fmt.Errorf("wsraw: read handshake headers: %w", err)
	}
	if !strings.EqualFold(h.Get("Upgrade"), "websocket") {
		return fmt.Errorf("wsraw: handshake: Upgrade is %q", h.Get("Upgrade"))
	}
	if !hasToken(h.Get("Connection"), "upgrade") {
		return fmt.Errorf("wsraw: handshake: Connection is %q", h.Get("Connection"))
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	if want := base64.StdEncoding.EncodeToString(sum[:]); h.Get("Sec-WebSocket-Accept") != want {
		return fmt.Errorf("wsraw: handshake: Sec-WebSocket-Accept is %q, want %q", h.Get("Sec-WebSocket-Accept"), want)
	}
	// Frames the server sent right behind its answer are already buffered.
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		c.buf = append(c.buf, p...)
	}
	return nil
}

func hasToken(header, token string) bool {
	for _, t := range strings.Split(header, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// NetConn returns the TCP connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the TCP connection at once, without a close frame.
func (c *Conn) Close() error { return c.nc.Close() }

// Chop says how the bytes of what is sent are cut into writes. The zero
// value sends everything in one write.
type Chop struct {
	// PerFrame gives each frame its own write(s).
	PerFrame bool
	// Size cuts the bytes (of each frame, with PerFrame) into writes of
	// this many bytes; 0 does not cut.
	Size int
	// Delay is waited between two writes.
	Delay time.Duration
}

// Ways to chop, as Autobahn names them.
var (
	// Whole sends everything in one write.
	Whole = Chop{}
	// FrameWise sends one frame per write.
	FrameWise = Chop{PerFrame: true}
	// OctetWise sends one byte per write.
	OctetWise = Chop{Size: 1}
)

// Chunks sends n bytes per write.
func Chunks(n int) Chop { return Chop{Size: n} }

// String names the chop, for transcripts.
func (ch Chop) String() string {
	var s string
	switch {
	case ch.PerFrame && ch.Size > 0:
		s = fmt.Sprintf("frame-wise in chunks of %d", ch.Size)
	case ch.PerFrame:
		s = "frame-wise"
	case ch.Size == 1:
		s = "octet-wise"
	case ch.Size > 0:
		s = fmt.Sprintf("in chunks of %d", ch.Size)
	default:
		s = "whole"
	}
	if ch.Delay > 0 {
		s += fmt.Sprintf(", %v between writes", ch.Delay)
	}
	return s
}

// Send encodes frames and writes them as ch says.
func (c *Conn) Send(ch Chop, frames ...Frame) error {
	data, ends, err := EncodeAll(frames...)
	if err != nil {
		return err
	}
	var parts [][]byte
	if ch.PerFrame {
		start := 0
		for _, end := range ends {
			parts = append(parts, cut(data[start:end], ch.Size)...)
			start = end
		}
	} else {
		parts = cut(data, ch.Size)
	}
	return c.write(parts, ch.Delay)
}

// SendBytes writes p, which may be any bytes (part of a frame, several
// frames), as ch says; PerFrame is ignored.
func (c *Conn) SendBytes(ch Chop, p []byte) error {
	return c.write(cut(p, ch.Size), ch.Delay)
}

func cut(p []byte, size int) [][]byte {
	if size <= 0 || len(p) <= size {
		return [][]byte{p}
	}
	parts := make([][]byte, 0, (len(p)+size-1)/size)
	for len(p) > size {
		parts = append(parts, p[:size])
		p = p[size:]
	}
	return append(parts, p)
}

func (c *Conn) write(parts [][]byte, delay time.Duration) error {
	timeout := c.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	for i, p := range parts {
		if i > 0 && delay > 0 {
			time.Sleep(delay)
		}
		c.nc.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := c.nc.Write(p); err != nil {
			return fmt.Errorf("wsraw: write %d bytes (part %d of %d): %w", len(p), i+1, len(parts), err)
		}
	}
	return nil
}

// ReadFrame reads the next frame, waiting until deadline at most. A frame
// cut short by the deadline is kept, and read whole by the next call. The
// frame is returned as sent; ReadEvent checks it.
func (c *Conn) ReadFrame(deadline time.Time) (Frame, error) {
	if err := c.fill(2, deadline); err != nil {
		return Frame{}, err
	}
	b0, b1 := c.buf[c.r], c.buf[c.r+1]
	hl := 2
	switch b1 & 0x7f {
	case 126:
		hl += 2
	case 127:
		hl += 8
	}
	masked := b1&0x80 != 0
	if masked {
		hl += 4
	}
	if err := c.fill(hl, deadline); err != nil {
		return Frame{}, err
	}
	h := c.buf[c.r : c.r+hl]
	var n uint64
	switch b1 & 0x7f {
	case 126:
		n = uint64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		n = binary.BigEndian.Uint64(h[2:])
	default:
		n = uint64(b1 & 0x7f)
	}
	if n > uint64(c.maxPayload()) {
		return Frame{}, fmt.Errorf("wsraw: the server sent a frame of %d bytes, over the %d-byte bound", n, c.maxPayload())
	}
	total := hl + int(n)
	if err := c.fill(total, deadline); err != nil {
		return Frame{}, err
	}
	f := Frame{
		Fin:     b0&0x80 != 0,
		RSV:     (b0 >> 4) & 0x7,
		Opcode:  b0 & 0x0f,
		Payload: append([]byte(nil), c.buf[c.r+hl:c.r+total]...),
		Masked:  masked,
	}
	f.Unmasked = !masked
	if masked {
		var key [4]byte
		copy(key[:], c.buf[c.r+hl-4:c.r+hl])
		maskBytes(key, f.Payload)
	}
	c.r += total
	return f, nil
}

func (c *Conn) maxPayload() int {
	if c.MaxPayload > 0 {
		return c.MaxPayload
	}
	return DefaultMaxPayload
}

// fill reads until buf[r:] holds need bytes, or the deadline passes.
func (c *Conn) fill(need int, deadline time.Time) error {
	for len(c.buf)-c.r < need {
		if c.r > 0 {
			n := copy(c.buf, c.buf[c.r:])
			c.buf, c.r = c.buf[:n], 0
		}
		if free := cap(c.buf) - len(c.buf); free < 4096 || cap(c.buf) < need {
			nb := make([]byte, len(c.buf), max(2*cap(c.buf), need+4096))
			copy(nb, c.buf)
			c.buf = nb
		}
		c.nc.SetReadDeadline(deadline)
		n, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err != nil {
			if len(c.buf)-c.r >= need {
				return nil
			}
			if errors.Is(err, io.EOF) && len(c.buf) > c.r {
				return fmt.Errorf("wsraw: connection closed in the middle of a frame: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("wsraw: read: %w", err)
		}
	}
	return nil
}

// Kind tells what an Event is.
type Kind int

// Kinds of events.
const (
	// KindMessage is a complete data message, reassembled.
	KindMessage Kind = iota + 1
	// KindPing is a ping frame.
	KindPing
	// KindPong is a pong frame.
	KindPong
	// KindClose is a close frame.
	KindClose
	// KindViolation is something no server may send (RFC 6455): a masked
	// frame, reserved bits or opcodes, a bad control frame, broken
	// fragmentation, a text message that is not UTF-8.
	KindViolation
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	case KindClose:
		return "close"
	case KindViolation:
		return "violation"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Event is what ReadEvent returns: a message, a control frame, or a
// violation.
type Event struct {
	Kind Kind
	// Opcode is OpText or OpBinary for a message; the frame's opcode
	// otherwise.
	Opcode byte
	// Payload is the message or the control frame's payload.
	Payload []byte
	// Frames is how many frames the message came in.
	Frames int
	// Close describes a close frame.
	Close CloseInfo
	// Detail says what the violation is.
	Detail string
}

// String describes the event, for transcripts.
func (e Event) String() string {
	switch e.Kind {
	case KindMessage:
		return fmt.Sprintf("message %s %dB in %d frame(s) %s", opName(e.Opcode), len(e.Payload), e.Frames, Preview(e.Payload))
	case KindClose:
		return "close " + e.Close.String()
	case KindViolation:
		return "violation: " + e.Detail
	}
	return fmt.Sprintf("%s %s", e.Kind, Preview(e.Payload))
}

// CloseInfo is a close frame's payload, parsed.
type CloseInfo struct {
	// HasCode reports whether the payload had a status code (an empty
	// payload has none).
	HasCode bool
	// Code is the status code, 0 without one.
	Code int
	// Reason is the text after the code.
	Reason string
	// Problem says why no endpoint may send this close frame; empty when
	// it may.
	Problem string
}

// Valid reports whether an endpoint may send this close frame.
func (ci CloseInfo) Valid() bool { return ci.Problem == "" }

// String describes the close frame.
func (ci CloseInfo) String() string {
	s := "(no code)"
	if ci.HasCode {
		s = fmt.Sprintf("%d", ci.Code)
	}
	if ci.Reason != "" {
		s += fmt.Sprintf(" %q", ci.Reason)
	}
	if ci.Problem != "" {
		s += " [invalid: " + ci.Problem + "]"
	}
	return s
}

// ParseClose parses a close frame's payload and checks it (RFC 6455 §5.5.1,
// §7.4): empty, or a code an endpoint may send followed by UTF-8 text.
func ParseClose(p []byte) CloseInfo {
	var ci CloseInfo
	switch {
	case len(p) == 0:
		return ci
	case len(p) == 1:
		ci.Problem = "a 1-byte payload"
		return ci
	}
	ci.HasCode = true
	ci.Code = int(binary.BigEndian.Uint16(p))
	ci.Reason = string(p[2:])
	switch {
	case !SendableCode(ci.Code):
		ci.Problem = fmt.Sprintf("code %d may not be sent", ci.Code)
	case !utf8.ValidString(ci.Reason):
		ci.Problem = "the reason is not valid UTF-8"
	}
	return ci
}

// SendableCode reports whether an endpoint may put code in a close frame:
// 1000–1003 and 1007–1011 (RFC 6455 §7.4.1), 1012–1014 (registered with
// IANA since), and 3000–4999 (§7.4.2).
func SendableCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ReadEvent reads frames until one makes an event, waiting until deadline at
// most: a control frame, the last frame of a message, or a violation. It
// answers nothing. An error means no event: use EndOf to tell how the
// connection ended (or that the deadline passed, after which reading may go
// on).
func (c *Conn) ReadEvent(deadline time.Time) (Event, error) {
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil {
			return Event{}, err
		}
		if ev, ok := c.event(f); ok {
			return ev, nil
		}
	}
}

func violation(f Frame, format string, args ...any) (Event, bool) {
	return Event{Kind: KindViolation, Opcode: f.Opcode, Payload: f.Payload, Detail: fmt.Sprintf(format, args...) + " (" + f.String() + ")"}, true
}

// event checks one frame and makes an event of it, if it completes one.
func (c *Conn) event(f Frame) (Event, bool) {
	switch {
	case f.Masked:
		return violation(f, "a masked frame from the server")
	case f.RSV != 0:
		return violation(f, "reserved bits set, no extension negotiated")
	}
	switch f.Opcode {
	case OpPing, OpPong, OpClose:
		switch {
		case !f.Fin:
			return violation(f, "a fragmented control frame")
		case len(f.Payload) > 125:
			return violation(f, "a control frame over 125 bytes")
		}
		switch f.Opcode {
		case OpPing:
			return Event{Kind: KindPing, Opcode: f.Opcode, Payload: f.Payload}, true
		case OpPong:
			return Event{Kind: KindPong, Opcode: f.Opcode, Payload: f.Payload}, true
		}
		return Event{Kind: KindClose, Opcode: f.Opcode, Payload: f.Payload, Close: ParseClose(f.Payload)}, true
	case OpText, OpBinary:
		if c.inMessage {
			c.inMessage = false
			return violation(f, "a new message before the last one's final fragment")
		}
		c.inMessage, c.msgOp, c.msg, c.msgFrames = true, f.Opcode, append([]byte(nil), f.Payload...), 1
	case OpContinuation:
		if !c.inMessage {
			return violation(f, "a continuation frame with no message to continue")
		}
		if len(c.msg)+len(f.Payload) > c.maxPayload() {
			c.inMessage = false
			return violation(f, "a message over the %d-byte bound", c.maxPayload())
		}
		c.msg = append(c.msg, f.Payload...)
		c.msgFrames++
	default:
		return violation(f, "reserved opcode %d", f.Opcode)
	}
	if !f.Fin {
		return Event{}, false
	}
	c.inMessage = false
	ev := Event{Kind: KindMessage, Opcode: c.msgOp, Payload: c.msg, Frames: c.msgFrames}
	c.msg = nil
	if ev.Opcode == OpText && !utf8.Valid(ev.Payload) {
		return Event{Kind: KindViolation, Opcode: OpText, Payload: ev.Payload, Detail: "a text message that is not valid UTF-8 " + Preview(ev.Payload)}, true
	}
	return ev, true
}

// End tells how a read ended.
type End int

// Ways a read ends.
const (
	// EndNone: no error.
	EndNone End = iota
	// EndEOF: the server closed the TCP connection (FIN), possibly in the
	// middle of a frame.
	EndEOF
	// EndReset: the TCP connection was reset.
	EndReset
	// EndTimeout: the deadline passed; the connection may still be read.
	EndTimeout
	// EndClosed: this side closed the connection.
	EndClosed
	// EndError: any other error.
	EndError
)

// String names the ending.
func (e End) String() string {
	switch e {
	case EndNone:
		return "open"
	case EndEOF:
		return "TCP closed (EOF)"
	case EndReset:
		return "TCP reset"
	case EndTimeout:
		return "timeout"
	case EndClosed:
		return "closed by the client"
	}
	return "error"
}

// EndOf classifies a read error.
func EndOf(err error) End {
	switch {
	case err == nil:
		return EndNone
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EndEOF
	case errors.Is(err, syscall.ECONNRESET):
		return EndReset
	case errors.Is(err, os.ErrDeadlineExceeded):
		return EndTimeout
	case errors.Is(err, net.ErrClosed):
		return EndClosed
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return EndTimeout
	}
	return EndError
}
