package logline

import (
	"strings"
	"time"
)

// leadingTime returns the timestamp at the start of line (optionally after
// "["), or the zero Time.
func leadingTime(line string) time.Time {
	s := strings.TrimPrefix(line, "[")
	n := timestampLen(s)
	if n == 0 {
		return time.Time{}
	}
	t, _ := parseTimestamp(s[:n])
	return t
}

// timestampLen returns the length of the timestamp that s starts with, or 0.
// Accepted: "2006-01-02" then "T", "t" or " ", then "15:04:05", then an
// optional fraction after "." or ",", then an optional zone "Z", "+07",
// "+0700" or "+07:00" (or with "-").
func timestampLen(s string) int {
	const pattern = "dddd-dd-dd_dd:dd:dd"
	if len(s) < len(pattern) {
		return 0
	}
	for i := 0; i < len(pattern); i++ {
		switch c := s[i]; pattern[i] {
		case 'd':
			if !isDigit(c) {
				return 0
			}
		case '_':
			if c != 'T' && c != 't' && c != ' ' {
				return 0
			}
		default:
			if c != pattern[i] {
				return 0
			}
		}
	}
	n := len(pattern)
	if n+1 < len(s) && (s[n] == '.' || s[n] == ',') && isDigit(s[n+1]) {
		n++
		for k := 0; n < len(s) && isDigit(s[n]) && k < 9; k++ {
			n++
		}
	}
	if n < len(s) {
		switch s[n] {
		case 'Z', 'z':
			n++
		case '+', '-':
			n += zoneLen(s[n+1:])
		}
	}
	return n
}

// zoneLen returns the length, including the sign before s, of a zone offset
// "07", "0700" or "07:00" at the start of s, or 0.
func zoneLen(s string) int {
	digits := func(k int) bool {
		if len(s) < k {
			return false
		}
		for i := range k {
			if !isDigit(s[i]) {
				return false
			}
		}
		return true
	}
	switch {
	case len(s) >= 5 && digits(2) && s[2] == ':' && isDigit(s[3]) && isDigit(s[4]):
		return 6
	case digits(4):
		return 5
	case digits(2):
		return 3
	}
	return 0
}

// parseTimestamp parses a string accepted whole by timestampLen. A time
// without a zone is taken as UTC.
func parseTimestamp(s string) (time.Time, bool) {
	b := []byte(s)
	b[10] = 'T'
	if len(b) > 19 && b[19] == ',' {
		b[19] = '.'
	}
	switch last := len(b) - 1; {
	case b[last] == 'z':
		b[last] = 'Z'
	case b[last] == 'Z':
	case len(b) >= 22 && (b[len(b)-3] == '+' || b[len(b)-3] == '-'): // ±hh
		b = append(b, ":00"...)
	case len(b) >= 24 && (b[len(b)-5] == '+' || b[len(b)-5] == '-'): // ±hhmm
		b = append(b[:len(b)-2], ':', b[len(b)-2], b[len(b)-1])
	case len(b) >= 25 && b[len(b)-3] == ':' && (b[len(b)-6] == '+' || b[len(b)-6] == '-'): // ±hh:mm
	default:
		b = append(b, 'Z')
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
