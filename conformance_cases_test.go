package sockets_test

// The cases of the conformance suite (see conformance_test.go), numbered as
// Autobahn|Testsuite numbers them, with its payloads, expectations and
// judgement. Cases of our own have an id that is not Autobahn's: a suffix
// ("6.12.3-frames", "7.1.1b") or a name ("2.ping-gap-1.5s").

import (
	"bytes"
	"fmt"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit/wsraw"
)

// conformanceCases lists every case, in order.
func conformanceCases() []confCase {
	var cases []confCase
	for _, section := range [][]confCase{
		framingCases(), pingCases(), reservedBitCases(), opcodeCases(),
		fragmentationCases(), utf8Cases(), closeCases(), limitCases(), controlTimingCases(),
	} {
		cases = append(cases, section...)
	}
	return cases
}

var (
	helloWorld  = []byte("Hello, world!")
	helloWorld2 = []byte("Hello World!")
	binary8     = []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
)

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// fragments makes the frames of a message sent in parts: the first with
// op, the others continuations, the last final.
func fragments(op byte, parts ...[]byte) []wsraw.Frame {
	frames := make([]wsraw.Frame, len(parts))
	for i, p := range parts {
		o := wsraw.OpContinuation
		if i == 0 {
			o = op
		}
		frames[i] = wsraw.Fragment(o, p, i == len(parts)-1)
	}
	return frames
}

// split cuts p into pieces of size bytes (one empty piece for an empty p).
func split(p []byte, size int) [][]byte {
	if len(p) == 0 {
		return [][]byte{p}
	}
	var parts [][]byte
	for len(p) > size {
		parts = append(parts, p[:size])
		p = p[size:]
	}
	return append(parts, p)
}

func withRSV(f wsraw.Frame, rsv byte) wsraw.Frame {
	f.RSV = rsv
	return f
}

// 1.x: framing of text and binary messages of every length encoding.
func framingCases() []confCase {
	var cases []confCase
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	for i, n := range lengths {
		cases = append(cases, confCase{
			id:   fmt.Sprintf("1.1.%d", i+1),
			what: fmt.Sprintf("text message of %d bytes", n),
			end:  normalClose,
			run: func(s *session) {
				p := s.fill(n)
				s.expect(s.echo(wsraw.OpText, p))
				s.send(wsraw.Whole, wsraw.Text(p))
			},
		})
	}
	cases = append(cases, confCase{
		id: "1.1.8", what: "text message of 65536 bytes, in chops of 997", end: normalClose,
		run: func(s *session) {
			p := s.fill(65536)
			s.expect(s.echo(wsraw.OpText, p))
			s.send(wsraw.Chunks(997), wsraw.Text(p))
		},
	})
	for i, n := range lengths {
		cases = append(cases, confCase{
			id:         fmt.Sprintf("1.2.%d", i+1),
			what:       fmt.Sprintf("binary message of %d bytes", n),
			end:        normalClose,
			binaryEcho: true,
			run: func(s *session) {
				p := repeat(0xfe, n)
				s.expect(s.echo(wsraw.OpBinary, p))
				s.send(wsraw.Whole, wsraw.Binary(p))
			},
		})
	}
	cases = append(cases, confCase{
		id: "1.2.8", what: "binary message of 65536 bytes, in chops of 997", end: normalClose, binaryEcho: true,
		run: func(s *session) {
			p := repeat(0xfe, 65536)
			s.expect(s.echo(wsraw.OpBinary, p))
			s.send(wsraw.Chunks(997), wsraw.Binary(p))
		},
	})
	return cases
}

// 2.x: pings and pongs.
func pingCases() []confCase {
	pingCase := func(id, what string, p []byte, ch wsraw.Chop) confCase {
		return confCase{id: id, what: what, end: normalClose, run: func(s *session) {
			s.expect(pongEv(p))
			s.send(ch, wsraw.Ping(p))
		}}
	}
	tenPings := func(id string, ch wsraw.Chop) confCase {
		return confCase{
			id: id, what: "10 pings with payloads, " + ch.String() + ": a pong for at least the last", end: normalClose,
			run: func(s *session) {
				var frames []wsraw.Frame
				var payloads []string
				for i := range 10 {
					p := fmt.Sprintf("payload-%d", i)
					payloads = append(payloads, p)
					frames = append(frames, wsraw.Ping([]byte(p)))
				}
				// RFC 6455 §5.5.3: an endpoint may answer only the most
				// recent of several pings. OK: pongs for some of them, in
				// order, the last one included.
				s.custom = func(got []ev) (verdict, bool) {
					last := -1
					for _, e := range got {
						i := -1
						for j, p := range payloads {
							if e.kind == "pong" && string(e.data) == p {
								i = j
							}
						}
						if i <= last {
							return vFailed, true
						}
						last = i
					}
					if last == len(payloads)-1 {
						return vOK, true
					}
					return vFailed, false
				}
				s.send(ch, frames...)
			},
		}
	}
	return []confCase{
		pingCase("2.1", "ping without payload", nil, wsraw.Whole),
		pingCase("2.2", "ping with a small text payload", helloWorld, wsraw.Whole),
		pingCase("2.3", "ping with a small binary payload", binary8, wsraw.Whole),
		pingCase("2.4", "ping with a 125-byte payload", repeat(0xfe, 125), wsraw.Whole),
		{id: "2.5", what: "ping with a 126-byte payload: the connection is failed", end: failWith(1002), run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Ping(repeat(0xfe, 126)))
		}},
		pingCase("2.6", "ping with a 125-byte payload, octet-wise", repeat(0xfe, 125), wsraw.OctetWise),
		{id: "2.7", what: "unsolicited pong without payload: nothing answered", end: normalClose, run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Pong(nil))
		}},
		{id: "2.8", what: "unsolicited pong with payload: nothing answered", end: normalClose, run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Pong([]byte("unsolicited pong payload")))
		}},
		{id: "2.9", what: "unsolicited pong, then a ping: the ping answered", end: normalClose, run: func(s *session) {
			s.expect(pongEv([]byte("ping payload")))
			s.send(wsraw.Whole, wsraw.Pong([]byte("unsolicited pong payload")), wsraw.Ping([]byte("ping payload")))
		}},
		tenPings("2.10", wsraw.Whole),
		tenPings("2.11", wsraw.OctetWise),
	}
}

// 3.x: reserved bits, no extension negotiated.
func reservedBitCases() []confCase {
	// echoThenBad: a valid text message, the same with RSV set, a ping:
	// the echo of the first, then the connection failed, no pong.
	echoThenBad := func(id string, rsv byte, ch wsraw.Chop) confCase {
		return confCase{
			id: id, what: fmt.Sprintf("text, text with RSV=%d, ping (%s): echo, then failed, no pong", rsv, ch), end: failWith(1002),
			run: func(s *session) {
				p := s.text(helloWorld)
				s.expect(s.echo(wsraw.OpText, p))
				s.expectNonStrict()
				s.send(ch, wsraw.Text(p), withRSV(wsraw.Text(p), rsv), wsraw.Ping(nil))
			},
		}
	}
	bad := func(id, what string, f wsraw.Frame) confCase {
		return confCase{id: id, what: what, end: failWith(1002), run: func(s *session) {
			s.expect()
			g := f
			if g.Opcode == wsraw.OpText {
				g.Payload = s.text(g.Payload)
			}
			s.send(wsraw.Whole, g)
		}}
	}
	return []confCase{
		bad("3.1", "text with RSV=1: failed", withRSV(wsraw.Text(helloWorld), 1)),
		echoThenBad("3.2", 2, wsraw.Whole),
		echoThenBad("3.3", 3, wsraw.FrameWise),
		echoThenBad("3.4", 4, wsraw.OctetWise),
		bad("3.5", "binary with RSV=5: failed", withRSV(wsraw.Binary(binary8), 5)),
		bad("3.6", "ping with RSV=6: failed", withRSV(wsraw.Ping(helloWorld), 6)),
		bad("3.7", "close with RSV=7: failed", withRSV(wsraw.Close(1000, ""), 7)),
	}
}

// 4.x: reserved opcodes.
func opcodeCases() []confCase {
	var cases []confCase
	for g, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		kind := "non-control"
		if g == 1 {
			kind = "control"
		}
		for i, op := range ops {
			id := fmt.Sprintf("4.%d.%d", g+1, i+1)
			switch i {
			case 0, 1:
				var payload []byte
				if i == 1 {
					payload = []byte("reserved opcode payload")
				}
				cases = append(cases, confCase{
					id: id, what: fmt.Sprintf("frame with reserved %s opcode %d: failed", kind, op), end: failWith(1002),
					run: func(s *session) {
						s.expect()
						s.send(wsraw.Whole, wsraw.Frame{Fin: true, Opcode: op, Payload: payload})
					},
				})
			default:
				ch := wsraw.Whole
				if i == 4 {
					ch = wsraw.OctetWise
				}
				withPayload := i > 2
				cases = append(cases, confCase{
					id: id, what: fmt.Sprintf("text, reserved %s opcode %d, ping (%s): echo, then failed, no pong", kind, op, ch), end: failWith(1002),
					run: func(s *session) {
						p := s.text(helloWorld)
						s.expect(s.echo(wsraw.OpText, p))
						s.expectNonStrict()
						bad := wsraw.Frame{Fin: true, Opcode: op}
						if withPayload {
							bad.Payload = helloWorld
						}
						s.send(ch, wsraw.Text(p), bad, wsraw.Ping(nil))
					},
				})
			}
		}
	}
	return cases
}

// 5.x: fragmentation.
func fragmentationCases() []confCase {
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	chops := []wsraw.Chop{wsraw.Whole, wsraw.FrameWise, wsraw.OctetWise}
	var cases []confCase
	for i, op := range []byte{wsraw.OpPing, wsraw.OpPong} {
		cases = append(cases, confCase{
			id: fmt.Sprintf("5.%d", i+1), what: fmt.Sprintf("%s fragmented in 2: failed", map[byte]string{wsraw.OpPing: "ping", wsraw.OpPong: "pong"}[op]), end: failWith(1002),
			run: func(s *session) {
				s.expect()
				s.send(wsraw.Whole, fragments(op, f1, f2)...)
			},
		})
	}
	for i, ch := range chops {
		cases = append(cases, confCase{
			id: fmt.Sprintf("5.%d", 3+i), what: "text in 2 fragments (" + ch.String() + ")", end: normalClose,
			run: func(s *session) {
				parts := s.textParts(f1, f2)
				s.expect(s.echo(wsraw.OpText, bytes.Join(parts, nil)))
				s.send(ch, fragments(wsraw.OpText, parts...)...)
			},
		})
	}
	for i, ch := range chops {
		cases = append(cases, confCase{
			id: fmt.Sprintf("5.%d", 6+i), what: "text in 2 fragments, a ping between them (" + ch.String() + "): pong, then echo", end: normalClose,
			run: func(s *session) {
				parts := s.textParts(f1, f2)
				s.expect(pongEv([]byte("ping payload")), s.echo(wsraw.OpText, bytes.Join(parts, nil)))
				frames := fragments(wsraw.OpText, parts...)
				s.send(ch, frames[0], wsraw.Ping([]byte("ping payload")), frames[1])
			},
		})
	}
	for g, fin := range []bool{true, false} {
		for i, ch := range chops {
			cases = append(cases, confCase{
				id:   fmt.Sprintf("5.%d", 9+3*g+i),
				what: fmt.Sprintf("continuation (FIN=%v) with nothing to continue, then text (%s): failed", fin, ch),
				end:  failWith(1002),
				run: func(s *session) {
					s.expect()
					s.send(ch, wsraw.Continuation([]byte("non-continuation payload"), fin), wsraw.Text(s.text(helloWorld)))
				},
			})
		}
	}
	cases = append(cases, confCase{
		id: "5.15", what: "text in 2 fragments, then a continuation with nothing to continue, then text: echo, then failed", end: failWith(1002),
		run: func(s *session) {
			parts := s.textParts(f1, f2)
			s.expect(s.echo(wsraw.OpText, bytes.Join(parts, nil)))
			s.expectNonStrict()
			frames := append(fragments(wsraw.OpText, parts...),
				wsraw.Continuation([]byte("fragment3"), false), wsraw.Text([]byte("fragment4")))
			s.send(wsraw.Whole, frames...)
		},
	})
	for i, fin := range []bool{false, true} {
		cases = append(cases, confCase{
			id:   fmt.Sprintf("5.%d", 16+i),
			what: fmt.Sprintf("twice: continuation (FIN=%v) with nothing to continue, then text in 2 fragments: failed", fin),
			end:  failWith(1002),
			run: func(s *session) {
				s.expect()
				var frames []wsraw.Frame
				for range 2 {
					frames = append(frames, wsraw.Continuation([]byte("fragment1"), fin),
						wsraw.Fragment(wsraw.OpText, []byte("fragment2"), false), wsraw.Continuation([]byte("fragment3"), true))
				}
				s.send(wsraw.Whole, frames...)
			},
		})
	}
	cases = append(cases, confCase{
		id: "5.18", what: "text in 2 fragments, both with the text opcode: failed", end: failWith(1002),
		run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Fragment(wsraw.OpText, f1, false), wsraw.Fragment(wsraw.OpText, f2, true))
		},
	})
	for i, ch := range []wsraw.Chop{wsraw.Whole, wsraw.FrameWise} {
		cases = append(cases, confCase{
			id:    fmt.Sprintf("5.%d", 19+i),
			what:  "text in 5 fragments with 2 pings among them and a 1 s wait (" + ch.String() + "): both pongs, then the echo",
			end:   normalClose,
			timed: true,
			run: func(s *session) {
				parts := s.textParts([]byte("fragment1"), []byte("fragment2"), []byte("fragment3"), []byte("fragment4"), []byte("fragment5"))
				ping1, ping2 := []byte("pongme 1!"), []byte("pongme 2!")
				s.expect(pongEv(ping1), pongEv(ping2), s.echo(wsraw.OpText, bytes.Join(parts, nil)))
				frames := fragments(wsraw.OpText, parts...)
				s.send(ch, frames[0], frames[1], wsraw.Ping(ping1))
				if !s.wait(time.Second, "") {
					return
				}
				s.send(ch, frames[2], frames[3], wsraw.Ping(ping2), frames[4])
			},
		})
	}
	return cases
}

// The UTF-8 payloads of 6.x.
var (
	kosme       = []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5") // κόσμε
	helloUTF8   = []byte("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
	kosmeBroken = []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64") // κόσμε, a surrogate, "edited"
)

// utf8Sequences are the categories 6.5–6.23, from Markus Kuhn's UTF-8
// decoder stress test as Autobahn uses them: each payload with whether it
// is valid UTF-8.
func utf8Sequences() []struct {
	name     string
	payloads []utf8Payload
} {
	type cat = struct {
		name     string
		payloads []utf8Payload
	}
	v := func(ss ...string) []utf8Payload {
		var ps []utf8Payload
		for _, s := range ss {
			ps = append(ps, utf8Payload{true, []byte(s)})
		}
		return ps
	}
	x := func(ss ...string) []utf8Payload {
		var ps []utf8Payload
		for _, s := range ss {
			ps = append(ps, utf8Payload{false, []byte(s)})
		}
		return ps
	}
	var prefixes []utf8Payload
	for i := 1; i <= len(kosme); i++ {
		// a prefix is valid when it ends at a code point's end
		prefixes = append(prefixes, utf8Payload{i == 2 || i == 5 || i == 7 || i == 9 || i == 11, kosme[:i]})
	}
	var contAll []byte
	for b := 0x80; b < 0xbf; b++ {
		contAll = append(contAll, byte(b))
	}
	var lonely []utf8Payload
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var p []byte
		for b := r[0]; b < r[1]; b++ {
			p = append(p, byte(b), ' ')
		}
		lonely = append(lonely, utf8Payload{false, p})
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var missingAll string
	for _, m := range missing {
		missingAll += m
	}
	nonChars := v("\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // beyond U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong
				}
				nonChars = append(nonChars, utf8Payload{true, []byte{z1, z2, 0xbf, z3}})
			}
		}
	}
	return []cat{
		{"some valid UTF-8 sequences", v("hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", string(kosme))},
		{"every prefix of a valid string of multi-byte code points", prefixes},
		{"first sequence of each length", v("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")},
		{"first 5- and 6-byte sequences", x("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")},
		{"last sequence of each length", v("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")},
		{"last 4-, 5- and 6-byte sequences (beyond U+10FFFF)", x("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")},
		{"other boundaries", append(v("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), x("\xf4\x90\x80\x80")...)},
		{"unexpected continuation bytes", x("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(contAll))},
		{"lonely start bytes, each followed by a space", lonely},
		{"sequences with the last continuation byte missing", x(missing...)},
		{"concatenated incomplete sequences", x(missingAll)},
		{"impossible bytes", x("\xfe", "\xff", "\xfe\xfe\xff\xff")},
		{"overlong ASCII", x("\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")},
		{"maximum overlong sequences", x("\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")},
		{"overlong NUL", x("\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")},
		{"single UTF-16 surrogates", x("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")},
		{"paired UTF-16 surrogates", x("\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")},
		{"noncharacters (valid UTF-8)", nonChars},
		{"specials, the replacement character among them", v("\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")},
	}
}

// utf8End is how a case sending one text message ends: the client closes
// after the echo when it is valid UTF-8; otherwise the server fails the
// connection with 1007, and always says so (gorilla does).
func utf8End(valid bool) endRule {
	if valid {
		return normalClose
	}
	return failStrict(1007)
}

type utf8Payload struct {
	valid bool
	p     []byte
}

// textCase sends one text message in parts (fragments, or chops of one
// frame) and expects the echo when the whole is valid UTF-8, close 1007
// otherwise.
func textCase(id, what string, parts [][]byte, frameWise bool, valid bool) confCase {
	return confCase{id: id, what: what, end: utf8End(valid), run: func(s *session) {
		ps := s.textParts(parts...)
		if valid {
			s.expect(s.echo(wsraw.OpText, bytes.Join(ps, nil)))
		} else {
			s.expect()
		}
		if frameWise {
			s.send(wsraw.Whole, fragments(wsraw.OpText, ps...)...)
		} else {
			s.send(wsraw.Whole, wsraw.Text(bytes.Join(ps, nil)))
		}
	}}
}

// failFast is 6.4.x: a text message whose second part makes it invalid UTF-8
// is sent in three parts, 1 s apart; the rest is withheld until the server
// has closed. OK: the server closes (1007) within 2 s of the second part,
// the third unsent. NON-STRICT: it closes (1007) only once the message is
// complete.
func failFast(id, what string, p1, p2, p3 []byte, oneFrame bool) confCase {
	return confCase{
		id: id, what: what, end: failStrict(1007), timed: true,
		run: func(s *session) {
			s.expect(timeoutEv("A"))
			s.expectNonStrict(timeoutEv("A"), timeoutEv("B"))
			var chunks [][]byte
			if oneFrame {
				whole := bytes.Join([][]byte{p1, p2, p3}, nil)
				data, err := wsraw.Text(whole).Encode(nil)
				if err != nil {
					panic(err)
				}
				head := len(data) - len(whole)
				chunks = [][]byte{data[:head+len(p1)], data[head+len(p1) : head+len(p1)+len(p2)], data[head+len(p1)+len(p2):]}
			} else {
				for _, f := range fragments(wsraw.OpText, p1, p2, p3) {
					data, err := f.Encode(nil)
					if err != nil {
						panic(err)
					}
					chunks = append(chunks, data)
				}
			}
			s.sendBytes(wsraw.Whole, chunks[0])
			if !s.wait(time.Second, "A") {
				return
			}
			s.sendBytes(wsraw.Whole, chunks[1])
			if !s.wait(2*time.Second, "B") {
				return
			}
			s.sendBytes(wsraw.Whole, chunks[2])
		},
	}
}

// 6.x: UTF-8 handling.
func utf8Cases() []confCase {
	cases := []confCase{
		{id: "6.1.1", what: "empty text message", end: normalClose, run: func(s *session) {
			p := s.text(nil)
			s.expect(s.echo(wsraw.OpText, p))
			s.send(wsraw.Whole, wsraw.Text(p))
		}},
		textCase("6.1.2", "text message in 3 empty fragments", [][]byte{{}, {}, {}}, true, true),
		textCase("6.1.3", "text message in 3 fragments, the first and last empty", [][]byte{{}, []byte("middle frame payload"), {}}, true, true),
		textCase("6.2.1", "valid UTF-8 text in one frame", [][]byte{helloUTF8}, false, true),
		textCase("6.2.2", "valid UTF-8 text in 2 fragments, cut at a code point boundary", [][]byte{helloUTF8[:15], helloUTF8[15:]}, true, true),
		textCase("6.2.3", "valid UTF-8 text in 1-byte fragments (cut inside code points)", split(helloUTF8, 1), true, true),
		textCase("6.2.4", "κόσμε in 1-byte fragments", split(kosme, 1), true, true),
		textCase("6.3.1", "invalid UTF-8 text in one frame: 1007", [][]byte{kosmeBroken}, false, false),
		textCase("6.3.2", "invalid UTF-8 text in 1-byte fragments: 1007", split(kosmeBroken, 1), true, false),
		// Fail fast: 6.4.1 and 6.4.3 send κόσμε, then 0xf4 0x90 0x80 0x80
		// (beyond U+10FFFF), then "edited"; 6.4.2 and 6.4.4 cut after
		// the first byte that makes it invalid (0x90 after 0xf4).
		failFast("6.4.1", "fail fast: invalid UTF-8 in the 2nd of 3 fragments, 1 s apart", kosme, []byte("\xf4\x90\x80\x80"), []byte("edited"), false),
		failFast("6.4.2", "fail fast: the 2nd of 3 fragments is the one byte that makes the text invalid", append(bytes.Clone(kosme), 0xf4), []byte{0x90}, []byte("\x80\x80edited"), false),
		failFast("6.4.3", "fail fast: invalid UTF-8 in the 2nd of 3 chops of one frame, 1 s apart", kosme, []byte("\xf4\x90\x80\x80"), []byte("edited"), true),
		failFast("6.4.4", "fail fast: the 2nd of 3 chops of one frame is the one byte that makes the text invalid", append(bytes.Clone(kosme), 0xf4), []byte{0x90}, []byte("\x80\x80edited"), true),
	}
	for i, cat := range utf8Sequences() {
		for j, up := range cat.payloads {
			id := fmt.Sprintf("6.%d.%d", 5+i, j+1)
			what := fmt.Sprintf("%s: % x", cat.name, up.p)
			if len(up.p) > 12 {
				what = fmt.Sprintf("%s: % x … (%d bytes)", cat.name, up.p[:12], len(up.p))
			}
			if !up.valid {
				what += ": 1007"
			}
			cases = append(cases, textCase(id, what, [][]byte{up.p}, false, up.valid))
			if j > 0 && cat.payloads[j-1].valid == up.valid {
				continue
			}
			// Ours: the first valid and the first invalid payload of each
			// category again, in 1-byte fragments, so that frames end
			// inside code points.
			cases = append(cases, confCase{
				id: id + "-frames", what: what + ", in 1-byte fragments", end: utf8End(up.valid),
				run: func(s *session) {
					p := s.text(up.p)
					if up.valid {
						s.expect(s.echo(wsraw.OpText, p))
					} else {
						s.expect()
					}
					s.send(wsraw.Whole, fragments(wsraw.OpText, split(p, 1)...)...)
				},
			})
		}
	}
	return cases
}

// 7.x: closing.
func closeCases() []confCase {
	cases := []confCase{
		{id: "7.1.1", what: "text, its echo, then close 1000", end: normalClose, run: func(s *session) {
			p := s.text(helloWorld2)
			s.expect(s.echo(wsraw.OpText, p))
			s.send(wsraw.Whole, wsraw.Text(p))
		}},
		{id: "7.1.1b", what: "text and close 1000 back to back: the echo, then close 1000", end: clientCloses(false, 1000), run: func(s *session) {
			p := s.text(helloWorld2)
			s.expect(s.echo(wsraw.OpText, p))
			s.expectNonStrict()
			s.send(wsraw.Whole, wsraw.Text(p), wsraw.Close(1000, ""))
		}},
		{id: "7.1.2", what: "two close frames: one answer", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Close(1000, ""), wsraw.Close(1000, ""))
		}},
		{id: "7.1.3", what: "a ping after the close: no pong", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Close(1000, ""), wsraw.Ping(helloWorld2))
		}},
		{id: "7.1.4", what: "text after the close: no echo", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.Close(1000, ""), wsraw.Text(s.text(helloWorld2)))
		}},
		{id: "7.1.5", what: "a fragment, the close, the last fragment: no echo", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			parts := s.textParts([]byte("fragment1"), []byte("fragment2"))
			frames := fragments(wsraw.OpText, parts...)
			s.send(wsraw.Whole, frames[0], wsraw.Close(1000, ""), frames[1])
		}},
		{id: "7.1.6", what: "256 KiB text, small text, close, ping, back to back: both echoes, then close 1000 (Autobahn: informational)", end: clientCloses(false, 1000), run: func(s *session) {
			big, small := s.fill(256<<10), s.text(helloWorld2)
			s.expect(s.echo(wsraw.OpText, big), s.echo(wsraw.OpText, small))
			s.expectNonStrict(s.echo(wsraw.OpText, big))
			s.expectNonStrict()
			s.send(wsraw.Whole, wsraw.Text(big), wsraw.Text(small), wsraw.Close(1000, ""), wsraw.Ping(nil))
		}},
		// An empty close is answered with an empty one by gorilla
		// (FormatCloseMessage(1005) is empty); the RFC allows that or 1000.
		{id: "7.3.1", what: "close without payload: an empty close or 1000", end: clientCloses(false, noCode, 1000), run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.CloseRaw(nil))
		}},
		// A 1-byte close payload is a protocol error (1002), but gorilla
		// reads it as "no status" and answers with an empty close, which
		// Autobahn accepts too ("1002 or empty").
		{id: "7.3.2", what: "close with a 1-byte payload: 1002, an empty close, or a drop", end: clientCloses(true, 1002, noCode), run: func(s *session) {
			s.expect()
			s.send(wsraw.Whole, wsraw.CloseRaw([]byte("*")))
		}},
		{id: "7.3.3", what: "close 1000", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			s.close(1000, "")
		}},
		{id: "7.3.4", what: "close 1000 with a reason", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			s.close(1000, "Hello World!")
		}},
		{id: "7.3.5", what: "close 1000 with a 123-byte reason (125-byte payload)", end: clientCloses(false, 1000), run: func(s *session) {
			s.expect()
			s.close(1000, string(repeat('*', 123)))
		}},
		{id: "7.3.6", what: "close 1000 with a 124-byte reason (a control frame over 125 bytes): 1002 or a drop", end: clientCloses(true, 1002), run: func(s *session) {
			s.expect()
			s.close(1000, string(repeat('*', 124)))
		}},
		{id: "7.5.1", what: "close 1000 whose reason is not UTF-8: 1002, 1007 or a drop", end: clientCloses(true, 1002, 1007), run: func(s *session) {
			s.expect()
			s.close(1000, string(kosmeBroken))
		}},
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cases = append(cases, validCloseCase(fmt.Sprintf("7.7.%d", i+1), code))
	}
	// Ours: 1012 and 1013, registered with IANA after RFC 6455, valid for
	// gorilla too.
	cases = append(cases, validCloseCase("7.7.x1012", 1012), validCloseCase("7.7.x1013", 1013))
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cases = append(cases, invalidCloseCase(fmt.Sprintf("7.9.%d", i+1), code))
	}
	// Ours: 1014 (registered with IANA, but not in gorilla's list of codes
	// a peer may send, so gorilla answers 1002), 1015 (never sent on the
	// wire). Autobahn's 7.13.1 and 7.13.2 (5000, 65535) are informational
	// there; gorilla answers 1002, which we require.
	cases = append(cases,
		invalidCloseCase("7.9.x1014", 1014), invalidCloseCase("7.9.x1015", 1015),
		invalidCloseCase("7.13.1", 5000), invalidCloseCase("7.13.2", 65535))
	return cases
}

func validCloseCase(id string, code int) confCase {
	return confCase{id: id, what: fmt.Sprintf("close %d: answered with %d", code, code), end: clientCloses(false, code), run: func(s *session) {
		s.expect()
		s.close(code, "")
	}}
}

func invalidCloseCase(id string, code int) confCase {
	return confCase{id: id, what: fmt.Sprintf("close with the invalid code %d: 1002 or a drop", code), end: clientCloses(true, 1002), run: func(s *session) {
		s.expect()
		s.close(code, "")
	}}
}

// 9.x: large messages, fragmented and chopped, and many round trips.
func limitCases() []confCase {
	const (
		kib = 1 << 10
		mib = 1 << 20
	)
	var cases []confCase
	payload := func(s *session, op byte, n int) []byte {
		if op == wsraw.OpText {
			return s.fill(n)
		}
		return repeat(0xfe, n)
	}
	name := map[byte]string{wsraw.OpText: "text", wsraw.OpBinary: "binary"}
	size := func(n int) string {
		if n >= mib {
			return fmt.Sprintf("%d MiB", n/mib)
		}
		return fmt.Sprintf("%d KiB", n/kib)
	}
	budget := 20 * time.Second
	for g, op := range []byte{wsraw.OpText, wsraw.OpBinary} {
		for i, n := range []int{64 * kib, 256 * kib, 1 * mib, 4 * mib, 8 * mib, 16 * mib} {
			cases = append(cases, confCase{
				id: fmt.Sprintf("9.%d.%d", 1+g, i+1), what: fmt.Sprintf("%s message of %s", name[op], size(n)),
				end: normalClose, binaryEcho: op == wsraw.OpBinary, budget: budget, full: n > mib,
				run: func(s *session) {
					p := payload(s, op, n)
					s.expect(s.echo(op, p))
					s.send(wsraw.Whole, wsraw.Fragment(op, p, true))
				},
			})
		}
	}
	// Autobahn fragments a 4 MiB message (9.3, 9.4) and chops a 1 MiB one
	// (9.5, 9.6); -conformance.full does too. The default run uses 256 KiB
	// for both, which keeps the suite short under -race on two cores.
	fragSize, chopSize := 256*kib, 256*kib
	if *conformanceFull {
		fragSize, chopSize = 4*mib, 1*mib
	}
	for g, op := range []byte{wsraw.OpText, wsraw.OpBinary} {
		for i, frag := range []int{64, 256, 1 * kib, 4 * kib, 16 * kib, 64 * kib, 256 * kib, 1 * mib, 4 * mib} {
			if frag > fragSize {
				continue
			}
			fragName := fmt.Sprintf("%d B", frag)
			if frag >= kib {
				fragName = size(frag)
			}
			cases = append(cases, confCase{
				id: fmt.Sprintf("9.%d.%d", 3+g, i+1), what: fmt.Sprintf("%s message of %s in fragments of %s", name[op], size(fragSize), fragName),
				end: normalClose, binaryEcho: op == wsraw.OpBinary, budget: budget,
				run: func(s *session) {
					p := payload(s, op, fragSize)
					s.expect(s.echo(op, p))
					s.send(wsraw.Whole, fragments(op, split(p, frag)...)...)
				},
			})
		}
	}
	for g, op := range []byte{wsraw.OpText, wsraw.OpBinary} {
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			cases = append(cases, confCase{
				id: fmt.Sprintf("9.%d.%d", 5+g, i+1), what: fmt.Sprintf("%s message of %s in chops of %d", name[op], size(chopSize), chop),
				end: normalClose, binaryEcho: op == wsraw.OpBinary, budget: budget,
				run: func(s *session) {
					p := payload(s, op, chopSize)
					s.expect(s.echo(op, p))
					s.send(wsraw.Chunks(chop), wsraw.Fragment(op, p, true))
				},
			})
		}
	}
	for g, op := range []byte{wsraw.OpText, wsraw.OpBinary} {
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			cases = append(cases, confCase{
				id: fmt.Sprintf("9.%d.%d", 7+g, i+1), what: fmt.Sprintf("1000 %s messages of %d bytes, each after the last one's echo", name[op], n),
				end: normalClose, binaryEcho: op == wsraw.OpBinary, budget: budget,
				run: func(s *session) {
					p := payload(s, op, n)
					want := make([]ev, 1000)
					for i := range want {
						want[i] = s.echo(op, p)
					}
					s.expect(want...)
					for i := range 1000 {
						s.send(wsraw.Whole, wsraw.Fragment(op, p, true))
						if !s.await(i+1, budget) {
							return
						}
					}
				},
			})
		}
	}
	return cases
}

// Control frames spaced in time (ours): each control frame gorilla writes
// (a pong, a close answer) has a 1 s write deadline; a connection must
// still answer the next one, whenever it comes. The gap runs from the
// first pong's arrival, so that it is the time between the server's two
// control frames.
func controlTimingCases() []confCase {
	var cases []confCase
	for _, gap := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 2500 * time.Millisecond} {
		gs := fmt.Sprintf("%gs", gap.Seconds())
		cases = append(cases, confCase{
			id: "2.ping-gap-" + gs, what: fmt.Sprintf("ping, another %s later, then text: two pongs, the echo", gs),
			end: normalClose, timed: true,
			run: func(s *session) {
				ping1, ping2 := []byte("first ping"), []byte("second ping")
				alive := s.text([]byte("still alive"))
				s.expect(pongEv(ping1), pongEv(ping2), s.echo(wsraw.OpText, alive))
				s.send(wsraw.Whole, wsraw.Ping(ping1))
				if !s.await(1, defaultBudget) || !s.wait(gap, "") {
					return
				}
				s.send(wsraw.Whole, wsraw.Ping(ping2))
				if !s.await(2, defaultBudget) {
					return
				}
				s.send(wsraw.Whole, wsraw.Text(alive))
			},
		})
		cases = append(cases, confCase{
			id: "7.close-gap-" + gs, what: fmt.Sprintf("ping, close 1000 %s later: the pong, then close 1000", gs),
			end: clientCloses(false, 1000), timed: true,
			run: func(s *session) {
				ping := []byte("first ping")
				s.expect(pongEv(ping))
				s.send(wsraw.Whole, wsraw.Ping(ping))
				if !s.await(1, defaultBudget) || !s.wait(gap, "") {
					return
				}
				s.close(1000, "")
			},
		})
	}
	return cases
}
