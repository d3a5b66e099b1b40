package load

import (
	"strconv"
	"time"
)

// Messages are text: KIND ':' SEQ ':' NANOS ':' padded with 'x' to the
// requested size, where NANOS is the send time in nanoseconds since the
// run's base time (monotonic clock, same process).

// appendMsg appends a message to dst.
func appendMsg(dst []byte, kind byte, seq int, ts time.Duration, size int) []byte {
	start := len(dst)
	dst = append(dst, kind, ':')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(ts), 10)
	dst = append(dst, ':')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// parseMsg parses a message; ok is false when it is not one.
func parseMsg(b []byte) (kind byte, seq int, ts time.Duration, ok bool) {
	if len(b) < 2 || b[1] != ':' {
		return 0, 0, 0, false
	}
	kind = b[0]
	b = b[2:]
	s, b, ok := ParseUint(b)
	if !ok {
		return 0, 0, 0, false
	}
	t, _, ok := ParseUint(b)
	if !ok {
		return 0, 0, 0, false
	}
	return kind, int(s), time.Duration(t), true
}

// ParseUint parses decimal digits up to a ':' and returns what follows it:
// the fields of the benchmarks' messages.
func ParseUint(b []byte) (uint64, []byte, bool) {
	var n uint64
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9' && i < 19:
			n = n*10 + uint64(c-'0')
		case c == ':' && i > 0:
			return n, b[i+1:], true
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}
