package logline

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Field names, in order of preference.
var (
	levelKeys = []string{"level", "lvl", "severity", "log.level"}
	timeKeys  = []string{"time", "ts", "timestamp", "@timestamp"}
)

// keyRank returns the index of key in keys, compared case-insensitively, or
// -1.
func keyRank(keys []string, key string) int {
	for i, k := range keys {
		if strings.EqualFold(k, key) {
			return i
		}
	}
	return -1
}

// parseJSON handles a line that is a JSON object. ok is false when the line
// is not one.
func parseJSON(line string) (info Info, ok bool) {
	s := strings.TrimSpace(line)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return Info{}, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return Info{}, false
	}
	// Keys differing only in case are ranked so that the result does not
	// depend on map order: the exact lower-case name first, then the
	// smallest key.
	level, tm := bestKey{rank: len(levelKeys)}, bestKey{rank: len(timeKeys)}
	for key, raw := range fields {
		if r := keyRank(levelKeys, key); r >= 0 && level.beatenBy(r, key, levelKeys[r]) {
			if lvl := jsonLevel(raw); lvl != "" {
				info.Level, level = lvl, bestKey{r, key}
			}
		}
		if r := keyRank(timeKeys, key); r >= 0 && tm.beatenBy(r, key, timeKeys[r]) {
			if t, ok := jsonTime(raw); ok {
				info.Time, tm = t, bestKey{r, key}
			}
		}
	}
	return info, true
}

// bestKey is the field chosen so far for a value.
type bestKey struct {
	rank int    // index in the list of names; the list's length if none
	key  string // the key as written
}

// beatenBy reports whether key, of rank r and canonical name canon, is to
// be preferred to b.
func (b bestKey) beatenBy(r int, key, canon string) bool {
	if r != b.rank {
		return r < b.rank
	}
	if exact, bExact := key == canon, b.key == canon; exact != bExact {
		return exact
	}
	return key < b.key
}

// jsonLevel reads a level given as a string or a pino/bunyan number.
func jsonLevel(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return NormalizeLevel(s)
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	switch {
	case n >= 10 && n <= 20:
		return LevelDebug
	case n > 20 && n <= 30:
		return LevelInfo
	case n > 30 && n <= 40:
		return LevelWarn
	case n > 40 && n <= 60:
		return LevelError
	}
	return ""
}

// jsonTime reads a time given as a string or a Unix time number.
func jsonTime(raw json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return parseTime(s)
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil {
		return time.Time{}, false
	}
	return unixTime(n)
}

// unixTime converts a Unix time in seconds, milliseconds, microseconds or
// nanoseconds, told apart by magnitude, to a UTC time. Times before 1970 or
// after about 5138 (in seconds) are rejected.
func unixTime(n float64) (time.Time, bool) {
	if math.IsNaN(n) || n <= 0 {
		return time.Time{}, false
	}
	switch {
	case n < 1e11: // seconds until the year 5138
	case n < 1e14:
		n /= 1e3
	case n < 1e17:
		n /= 1e6
	case n < 1e20:
		n /= 1e9
	default:
		return time.Time{}, false
	}
	sec, frac := math.Modf(n)
	// Round to microseconds: float64 cannot carry more for current dates.
	nsec := math.Round(frac*1e6) * 1e3
	return time.Unix(int64(sec), int64(nsec)).UTC(), true
}

// parseTime parses a timestamp string: RFC 3339 (with or without fraction),
// "2006-01-02 15:04:05" variants, or a Unix time number.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if c := s[0]; c >= '0' && c <= '9' && len(s) >= 8 && !strings.ContainsAny(s, "-:") {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, false
		}
		return unixTime(n)
	}
	if end := timestampLen(s); end == len(s) {
		return parseTimestamp(s)
	}
	return time.Time{}, false
}

// parseLogfmt looks for level and time keys among logfmt key=value pairs.
func parseLogfmt(line string) Info {
	var info Info
	levelRank, timeRank := len(levelKeys), len(timeKeys)
	eachPair(line, func(key, val string) {
		if r := keyRank(levelKeys[:3], key); r >= 0 && r < levelRank {
			if lvl := NormalizeLevel(val); lvl != "" {
				info.Level, levelRank = lvl, r
			}
		}
		if r := keyRank(timeKeys[:2], key); r >= 0 && r < timeRank {
			if t, ok := parseTime(val); ok {
				info.Time, timeRank = t, r
			}
		}
	})
	return info
}

// eachPair calls fn for every key=value pair of a logfmt line. Values may be
// double-quoted with Go-style escapes; words that are not pairs are skipped.
func eachPair(line string, fn func(key, val string)) {
	i := 0
	for i < len(line) {
		switch c := line[i]; {
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '"':
			_, i = quoted(line, i)
			continue
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '=' && line[i] != '"' {
			i++
		}
		key := line[start:i]
		if i >= len(line) || line[i] != '=' || key == "" {
			if i < len(line) && line[i] == '=' {
				i++ // a lone "=": skip it
			}
			continue
		}
		i++ // the "="
		var val string
		if i < len(line) && line[i] == '"' {
			val, i = quoted(line, i)
		} else {
			start := i
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				i++
			}
			val = line[start:i]
		}
		fn(key, val)
	}
}

// quoted reads the double-quoted string starting at line[i] and returns its
// unquoted value and the index just after it. An unterminated string runs to
// the end of the line.
func quoted(line string, i int) (string, int) {
	j := i + 1
	for j < len(line) && line[j] != '"' {
		if line[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(line) {
		return line[i+1:], len(line)
	}
	raw := line[i : j+1]
	if s, err := strconv.Unquote(raw); err == nil {
		return s, j + 1
	}
	return raw[1 : len(raw)-1], j + 1
}
