// Package wsraw is a raw RFC 6455 client for conformance tests. It writes any
// frame, valid or not (reserved bits, reserved opcodes, oversized control
// frames, odd length encodings, no mask), and sends the bytes whole, frame by
// frame, octet by octet or in chunks of any size, with delays between them.
// It reads what a server sends, checks it against what a server may send,
// reassembles messages, and answers nothing by itself: the test decides
// whether to answer a ping or a close.
//
// Every read and every write has a deadline: a test using this package never
// waits without a bound.
package wsraw

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// Opcodes of RFC 6455 §5.2. The others (3–7, 11–15) are reserved.
const (
	// OpContinuation continues a fragmented message.
	OpContinuation byte = 0x0
	// OpText starts a text message.
	OpText byte = 0x1
	// OpBinary starts a binary message.
	OpBinary byte = 0x2
	// OpClose is a close frame.
	OpClose byte = 0x8
	// OpPing is a ping frame.
	OpPing byte = 0x9
	// OpPong is a pong frame.
	OpPong byte = 0xA
)

// IsControl reports whether op is a control opcode (8–15, reserved ones
// included).
func IsControl(op byte) bool { return op&0x8 != 0 }

// LengthForm chooses how a frame's payload length is encoded.
type LengthForm int

// Length encodings. LengthShortest is what a conforming endpoint writes; the
// others force a form, even a longer one than needed (the receiver must
// accept it: RFC 6455 §5.2 only says "minimal number of bytes" is a MUST for
// the sender, which a test may break on purpose).
const (
	LengthShortest LengthForm = iota
	Length7                   // one byte: only lengths up to 125 fit
	Length16                  // 126 and two bytes
	Length64                  // 127 and eight bytes
)

// RSV bits as Autobahn numbers them: a frame's RSV field is the three bits
// RSV1 RSV2 RSV3 read as a number, so RSV = 4 is RSV1 alone and RSV = 1 is
// RSV3 alone.
const (
	// RSV1 is the first reserved bit (permessage-deflate's, when
	// negotiated).
	RSV1 byte = 4
	// RSV2 is the second reserved bit.
	RSV2 byte = 2
	// RSV3 is the third reserved bit.
	RSV3 byte = 1
)

// Frame is one WebSocket frame, to write or as read.
type Frame struct {
	// Fin is the FIN bit: the last frame of a message.
	Fin bool
	// RSV is the three reserved bits as a number, 0–7 (see RSV1).
	RSV byte
	// Opcode is the frame's opcode, 0–15.
	Opcode byte
	// Payload is the unmasked payload.
	Payload []byte
	// Length forces a length encoding when the frame is written.
	Length LengthForm
	// Unmasked writes the frame without a mask, which a client must not do;
	// as read, it is the opposite of Masked.
	Unmasked bool
	// Masked reports, for a frame read, whether it carried a mask.
	Masked bool
}

// Text is a final text frame.
func Text(p []byte) Frame { return Frame{Fin: true, Opcode: OpText, Payload: p} }

// Binary is a final binary frame.
func Binary(p []byte) Frame { return Frame{Fin: true, Opcode: OpBinary, Payload: p} }

// Continuation is a continuation frame, final or not.
func Continuation(p []byte, fin bool) Frame {
	return Frame{Fin: fin, Opcode: OpContinuation, Payload: p}
}

// Fragment is a data frame with the given opcode and FIN bit.
func Fragment(op byte, p []byte, fin bool) Frame { return Frame{Fin: fin, Opcode: op, Payload: p} }

// Ping is a ping frame.
func Ping(p []byte) Frame { return Frame{Fin: true, Opcode: OpPing, Payload: p} }

// Pong is a pong frame.
func Pong(p []byte) Frame { return Frame{Fin: true, Opcode: OpPong, Payload: p} }

// Close is a close frame with a status code and a reason. The reason is
// copied as is, valid UTF-8 or not, and may make the frame too long.
func Close(code int, reason string) Frame {
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return Frame{Fin: true, Opcode: OpClose, Payload: append(p, reason...)}
}

// CloseRaw is a close frame with exactly the payload p (empty for a close
// without a status code).
func CloseRaw(p []byte) Frame { return Frame{Fin: true, Opcode: OpClose, Payload: p} }

// Encode appends the frame, masked with a fresh random key unless Unmasked,
// to dst. It returns an error only for a Length form the payload does not fit.
func (f Frame) Encode(dst []byte) ([]byte, error) {
	n := len(f.Payload)
	b0 := f.Opcode & 0x0f
	if f.Fin {
		b0 |= 0x80
	}
	b0 |= (f.RSV & 0x7) << 4
	var mask byte
	if !f.Unmasked {
		mask = 0x80
	}
	form := f.Length
	if form == LengthShortest {
		switch {
		case n <= 125:
			form = Length7
		case n <= 0xffff:
			form = Length16
		default:
			form = Length64
		}
	}
	switch form {
	case Length7:
		if n > 125 {
			return dst, fmt.Errorf("wsraw: a %d-byte payload does not fit the 7-bit length", n)
		}
		dst = append(dst, b0, mask|byte(n))
	case Length16:
		if n > 0xffff {
			return dst, fmt.Errorf("wsraw: a %d-byte payload does not fit the 16-bit length", n)
		}
		dst = append(dst, b0, mask|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	case Length64:
		dst = append(dst, b0, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	default:
		return dst, fmt.Errorf("wsraw: unknown length form %d", form)
	}
	if f.Unmasked {
		return append(dst, f.Payload...), nil
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	maskBytes(key, dst[start:])
	return dst, nil
}

// maskBytes applies (or removes) the masking of RFC 6455 §5.3 in place.
func maskBytes(key [4]byte, p []byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k8 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// EncodeAll encodes frames one after the other and returns the bytes and
// where each frame ends.
func EncodeAll(frames ...Frame) (data []byte, ends []int, err error) {
	for _, f := range frames {
		if data, err = f.Encode(data); err != nil {
			return nil, nil, err
		}
		ends = append(ends, len(data))
	}
	return data, ends, nil
}

// String describes the frame briefly, for transcripts.
func (f Frame) String() string {
	fin := "fin"
	if !f.Fin {
		fin = "more"
	}
	s := fmt.Sprintf("%s %s %dB", opName(f.Opcode), fin, len(f.Payload))
	if f.RSV != 0 {
		s += fmt.Sprintf(" rsv=%d", f.RSV)
	}
	if f.Unmasked {
		s += " unmasked"
	}
	if len(f.Payload) > 0 {
		s += " " + Preview(f.Payload)
	}
	return s
}

func opName(op byte) string {
	switch op {
	case OpContinuation:
		return "cont"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("op%d", op)
}

// Preview quotes the start of a payload, for transcripts and messages.
func Preview(p []byte) string {
	const max = 40
	if len(p) <= max {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%q…", p[:max])
}
