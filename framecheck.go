package sockets

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// frameCheck follows the frames a client sends, byte by byte, before
// gorilla reads them, and finds every protocol error gorilla would find
// (RFC 6455 §5: reserved bits, opcodes, masking, control frames,
// fragmentation, lengths, close codes and reasons) and a message over the
// size limit, at the byte that decides it. That byte and everything after
// it are withheld from gorilla, so gorilla never answers a fault itself:
// it would write its close frame from the reader goroutine at once, ahead
// of what the handler had already sent. The engine answers instead, in
// order, after the writer's last frames.
//
// It is stricter than gorilla where RFC 6455 and RFC 7692 are: a close
// frame with a one-byte body, a 64-bit length with its top bit set, and
// RSV1 anywhere but on the first frame of a data message are protocol
// errors here.
//
// It keeps no payload but a close frame's (125 bytes at most), and costs a
// few comparisons per frame: other payload bytes are only counted.
type frameCheck struct {
	// limit is the largest message, summed over its frames' payload
	// lengths (as gorilla's read limit counts them).
	limit int64
	// deflate is true when permessage-deflate was negotiated: RSV1 may mark
	// a data message's first frame.
	deflate bool

	head     [14]byte // the frame header being gathered
	got      int      // bytes of head gathered
	need     int      // bytes of head needed: 2 until the second byte is known
	left     int64    // payload bytes of the current frame still to come
	opcode   byte
	mask     [4]byte
	body     []byte // a close frame's payload, unmasked, until checked
	fragment bool   // a fragmented data message is open
	msgLen   int64  // payload bytes of the current data message so far
	closed   bool   // a close frame went through: gorilla reads no further
	err      *protocolError
}

// protocolError is a fault in what the client sent, found by frameCheck:
// the connection is closed with code (1002, or 1009 for size).
type protocolError struct {
	code int
	text string
}

func (e *protocolError) Error() string { return "websocket: " + e.text }

func newFrameCheck(limit int64, deflate bool) frameCheck {
	return frameCheck{limit: limit, deflate: deflate, need: 2}
}

// Frame header bits (RFC 6455 §5.2).
const (
	finBit    = 0x80
	rsv1Bit   = 0x40
	rsv2Bit   = 0x20
	rsv3Bit   = 0x10
	maskBit   = 0x80
	opClose   = 0x8
	opPing    = 0x9
	opPong    = 0xA
	opText    = 0x1
	opBinary  = 0x2
	opContinu = 0x0
)

// feed checks p, the next bytes from the client, and returns how many of
// them may be passed on: all of them, or those before the byte that
// decided a fault, which is then returned too. After a fault every call
// returns 0 and the fault.
func (f *frameCheck) feed(p []byte) (int, *protocolError) {
	if f.err != nil {
		return 0, f.err
	}
	i := 0
	for i < len(p) && !f.closed {
		if f.left > 0 {
			n := int64(len(p) - i)
			if n > f.left {
				n = f.left
			}
			if f.opcode == opClose {
				if f.err = f.closeBody(p[i:i+int(n)], f.left == n); f.err != nil {
					return i + int(n) - 1, f.err
				}
			}
			f.left -= n
			i += int(n)
			continue
		}
		f.head[f.got] = p[i]
		f.got++
		if f.got < f.need {
			i++
			continue
		}
		if f.got == 2 {
			if f.err = f.firstBytes(); f.err != nil {
				return i, f.err
			}
			if f.got < f.need {
				i++
				continue
			}
		}
		if f.err = f.headerDone(); f.err != nil {
			return i, f.err
		}
		i++
	}
	return len(p), nil
}

// firstBytes checks the header's first two bytes, as gorilla does, and
// sets how long the header is.
func (f *frameCheck) firstBytes() *protocolError {
	b0, b1 := f.head[0], f.head[1]
	op := b0 & 0xf
	final := b0&finBit != 0
	var bad []string
	if b0&rsv1Bit != 0 && !(f.deflate && (op == opText || op == opBinary)) {
		bad = append(bad, "RSV1 set")
	}
	if b0&rsv2Bit != 0 {
		bad = append(bad, "RSV2 set")
	}
	if b0&rsv3Bit != 0 {
		bad = append(bad, "RSV3 set")
	}
	switch op {
	case opClose, opPing, opPong:
		if b1&0x7f > 125 {
			bad = append(bad, "len > 125 for control")
		}
		if !final {
			bad = append(bad, "FIN not set on control")
		}
	case opText, opBinary:
		if f.fragment {
			bad = append(bad, "data before FIN")
		}
	case opContinu:
		if !f.fragment {
			bad = append(bad, "continuation after FIN")
		}
	default:
		bad = append(bad, "bad opcode "+strconv.Itoa(int(op)))
	}
	if b1&maskBit == 0 {
		bad = append(bad, "bad MASK")
	}
	if len(bad) > 0 {
		return protocolFault(bad...)
	}
	switch b1 & 0x7f {
	case 126:
		f.need = 2 + 2 + 4
	case 127:
		f.need = 2 + 8 + 4
	default:
		f.need = 2 + 4
	}
	return nil
}

// headerDone checks a complete header and starts on the payload.
func (f *frameCheck) headerDone() *protocolError {
	var n int64
	switch l := f.head[1] & 0x7f; l {
	case 126:
		n = int64(binary.BigEndian.Uint16(f.head[2:4]))
	case 127:
		u := binary.BigEndian.Uint64(f.head[2:10])
		if u>>63 != 0 {
			return protocolFault("frame length with the most significant bit set")
		}
		n = int64(u)
	default:
		n = int64(l)
	}
	copy(f.mask[:], f.head[f.need-4:f.need])
	op := f.head[0] & 0xf
	final := f.head[0]&finBit != 0
	f.got, f.need = 0, 2
	f.left = n
	f.opcode = op
	switch op {
	case opText, opBinary, opContinu:
		if op != opContinu {
			f.msgLen = 0
		}
		f.fragment = !final
		if n > f.limit-f.msgLen {
			return &protocolError{code: websocket.CloseMessageTooBig, text: "message exceeds the read limit"}
		}
		f.msgLen += n
	case opClose:
		f.body = make([]byte, 0, n)
		if n == 0 {
			f.closed = true
		}
	}
	return nil
}

// closeBody gathers the next bytes of a close frame's payload, last
// telling whether they end it, and then checks it as gorilla would, once
// whole: a status code a peer may send and a UTF-8 reason, or nothing.
func (f *frameCheck) closeBody(p []byte, last bool) *protocolError {
	for _, b := range p {
		f.body = append(f.body, b^f.mask[len(f.body)%4])
	}
	if !last {
		return nil
	}
	switch {
	case len(f.body) == 1:
		return protocolFault("close frame body of one byte")
	case !validReceivedCode(int(binary.BigEndian.Uint16(f.body))):
		return protocolFault("bad close code " + strconv.Itoa(int(binary.BigEndian.Uint16(f.body))))
	case !utf8.Valid(f.body[2:]):
		return protocolFault("invalid utf8 payload in close frame")
	}
	f.closed = true
	return nil
}

// validReceivedCode reports whether a peer may send code in a close frame,
// as gorilla judges it (RFC 6455 §7.4 and the IANA registry).
func validReceivedCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013:
		return true
	}
	return code >= 3000 && code <= 4999
}

func protocolFault(what ...string) *protocolError {
	text := what[0]
	for _, w := range what[1:] {
		text += ", " + w
	}
	return &protocolError{code: websocket.CloseProtocolError, text: text}
}
