package logline

import (
	"encoding/json"
	"math"
	"slices"
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
// is not one. A line of at most MaxStructuredLine bytes is parsed into
// fields too.
func parseJSON(line string) (info Info, ok bool) {
	if !isJSONObject(line) {
		return Info{}, false
	}
	structured := len(line) <= MaxStructuredLine
	var want func(string) bool // the members needed: all, when structured
	if !structured {
		want = func(key string) bool {
			return keyRank(levelKeys, key) >= 0 || keyRank(timeKeys, key) >= 0 || strings.EqualFold(key, levelParent)
		}
	}
	if !json.Valid([]byte(line)) {
		return Info{}, false
	}
	members := jsonMembers(line, want)
	// Keys differing only in case are ranked so that the result does not
	// depend on their order: the exact lower-case name first, then the
	// smallest key. Of a key written twice, the last value counts, as
	// for JSON decoders: the members are read from the last, and a key
	// already read is skipped.
	level, tm, msg := bestKey{rank: len(levelKeys)}, bestKey{rank: len(timeKeys)}, bestKey{rank: len(msgKeys)}
	var read keySet // the keys of the candidates read
	for i := len(members) - 1; i >= 0; i-- {
		key, raw := members[i].key, members[i].raw
		lr, tr, mr := keyRank(levelKeys, key), keyRank(timeKeys, key), -1
		if structured {
			mr = keyRank(msgKeys, key)
		}
		if lr < 0 && tr < 0 && mr < 0 || !read.add(key) {
			continue
		}
		if lr >= 0 && level.beatenBy(lr, key, levelKeys[lr]) {
			if lvl := jsonLevel(raw); lvl != "" {
				info.Level, level = lvl, bestKey{lr, key}
			}
		}
		if tr >= 0 && tm.beatenBy(tr, key, timeKeys[tr]) {
			if t, ok := jsonTime(raw); ok {
				info.Time, tm = t, bestKey{tr, key}
			}
		}
		if mr >= 0 && msg.beatenBy(mr, key, msgKeys[mr]) && raw[0] == '"' {
			info.Msg, msg = jsonString(raw), bestKey{mr, key}
		}
	}
	if info.Level == "" {
		info.Level, level.key = nestedLevel(members)
	}
	if structured {
		info.Fields = jsonFields(members)
		markColumns(info.Fields, level.key, tm.key, msg.key)
	}
	return info, true
}

// levelParent and levelChild name the nested level of ECS loggers,
// {"log":{"level":"error"}}: the flat "log.level" is one of levelKeys.
const levelParent, levelChild = "log", "level"

// nestedLevel returns the level of a JSON object whose top-level members
// gave none, from the member "level" of its object "log", and the field's
// name as jsonFields names it ("" when there is none). Key names are
// case-insensitive, ranked as parseJSON ranks them: the exact lower-case
// name first, then the smallest key; of a key written twice, the last.
func nestedLevel(members []member) (level, key string) {
	best := bestKey{rank: 1}
	var read keySet
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		if !strings.EqualFold(m.key, levelParent) || !read.add(m.key) || m.raw[0] != '{' || !best.beatenBy(0, m.key, levelParent) {
			continue
		}
		if lvl, child := childLevel(m.raw); lvl != "" {
			level, key, best = lvl, m.key+"."+child, bestKey{0, m.key}
		}
	}
	return level, key
}

// childLevel returns the usable level of the object obj's member "level",
// ranked as in nestedLevel, and that member's key.
func childLevel(obj string) (level, key string) {
	best := bestKey{rank: 1}
	var read keySet
	inner := jsonMembers(obj, func(k string) bool { return strings.EqualFold(k, levelChild) })
	for i := len(inner) - 1; i >= 0; i-- {
		m := inner[i]
		if !read.add(m.key) || !best.beatenBy(0, m.key, levelChild) {
			continue
		}
		if lvl := jsonLevel(m.raw); lvl != "" {
			level, key, best = lvl, m.key, bestKey{0, m.key}
		}
	}
	return level, key
}

// keySet is a set of keys: a few in a slice, more in a map. The zero
// keySet is empty.
type keySet struct {
	few  []string
	many map[string]bool
}

// add adds key, and reports whether it was not in the set yet.
func (ks *keySet) add(key string) bool {
	if ks.many != nil {
		if ks.many[key] {
			return false
		}
		ks.many[key] = true
		return true
	}
	if slices.Contains(ks.few, key) {
		return false
	}
	ks.few = append(ks.few, key)
	if len(ks.few) > 8 {
		ks.many = make(map[string]bool)
		for _, k := range ks.few {
			ks.many[k] = true
		}
	}
	return true
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

// jsonLevel reads a level given as a JSON string or a pino/bunyan number.
func jsonLevel(raw string) string {
	if raw[0] == '"' {
		return NormalizeLevel(jsonString(raw))
	}
	n, ok := jsonNumber(raw)
	if !ok {
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

// jsonTime reads a time given as a JSON string or a Unix time number.
func jsonTime(raw string) (time.Time, bool) {
	if raw[0] == '"' {
		return parseTime(jsonString(raw))
	}
	n, ok := jsonNumber(raw)
	if !ok {
		return time.Time{}, false
	}
	return unixTime(n)
}

// jsonNumber reads a valid JSON value that is a number within float64's
// range.
func jsonNumber(raw string) (float64, bool) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	n, err := strconv.ParseFloat(raw, 64)
	return n, err == nil
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
// A line of nothing but pairs (at least two), of at most
// MaxStructuredLine bytes, is parsed into fields too: its pairs, the
// first of a key written twice; not one that is shaped like a JSON object
// (broken JSON).
func parseLogfmt(line string) Info {
	var info Info
	levelRank, timeRank, msgRank := len(levelKeys), len(timeKeys), len(msgKeys)
	var levelKey, timeKey, msgKey string
	var fields []Field
	sc := newPairScanner(line)
	for {
		key, val, ok := sc.next()
		if !ok {
			break
		}
		if r := keyRank(levelKeys, key); r >= 0 && r < levelRank {
			if lvl := NormalizeLevel(val); lvl != "" {
				info.Level, levelRank, levelKey = lvl, r, key
			}
		}
		if r := keyRank(timeKeys[:2], key); r >= 0 && r < timeRank {
			if t, ok := parseTime(val); ok {
				info.Time, timeRank, timeKey = t, r, key
			}
		}
		if sc.only && len(line) <= MaxStructuredLine && len(fields) < MaxFields {
			if r := keyRank(msgKeys, key); r >= 0 && r < msgRank {
				info.Msg, msgRank, msgKey = val, r, key
			}
			fields = append(fields, Field{Key: key, Value: val})
		}
	}
	if !sc.only || len(fields) < 2 || isJSONObject(line) { // broken JSON is not logfmt
		info.Msg = ""
		return info
	}
	info.Fields = dedupe(fields, false)
	markColumns(info.Fields, levelKey, timeKey, msgKey)
	return info
}

// pairScanner reads the key=value pairs of a logfmt line. Values may be
// double-quoted with Go-style escapes; words that are not pairs are
// skipped.
type pairScanner struct {
	line string
	i    int // where the next pair is looked for
	// only is true while the line read so far is nothing but pairs
	// (quotes closed): logfmt.
	only bool
}

func newPairScanner(line string) pairScanner { return pairScanner{line: line, only: true} }

// next returns the next pair, or false at the end of the line.
func (sc *pairScanner) next() (key, val string, ok bool) {
	line, i := sc.line, sc.i
	defer func() { sc.i = i }()
	for i < len(line) {
		switch c := line[i]; {
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '"':
			_, i, _ = quoted(line, i)
			sc.only = false
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
			sc.only = false
			continue
		}
		i++ // the "="
		if i < len(line) && line[i] == '"' {
			var closed bool
			val, i, closed = quoted(line, i)
			if !closed || i < len(line) && line[i] != ' ' && line[i] != '\t' {
				sc.only = false // key="unterminated, or key="a"b
			}
		} else {
			start := i
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				i++
			}
			val = line[start:i]
		}
		return key, val, true
	}
	return "", "", false
}

// quoted reads the double-quoted string starting at line[i] and returns its
// unquoted value, the index just after it, and whether it was closed. An
// unterminated string runs to the end of the line.
func quoted(line string, i int) (string, int, bool) {
	j := i + 1
	for j < len(line) && line[j] != '"' {
		if line[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(line) {
		return line[i+1:], len(line), false
	}
	raw := line[i : j+1]
	if s, err := strconv.Unquote(raw); err == nil {
		return s, j + 1, true
	}
	return raw[1 : len(raw)-1], j + 1, true
}
