package logline

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, always returns a normalised
// level and is deterministic; that it finds the level and time of a JSON
// line as a decoder of the whole object would (referenceJSON); that a
// line is structured within the limits (a JSON line exactly when it is a
// valid object), its fields bounded in number and size, their keys
// unique; that filtering a line never panics; and that a field search
// finds each field of a structured line by its own value, and key!=value
// passes exactly the lines that key=value does not. Seeds live in
// testdata/fuzz/FuzzParse as well as here.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		`{"level":"info","ts":1709634030.5}`,
		`{"level":40,"time":1709634030123}`,
		`time=2024-03-05T10:20:30Z level=info msg="hello \"x\""`,
		"2024-03-05 10:20:30,250 [error] boom",
		"[2024-03-05T12:20:30+0200] WARNING x",
		`lvl="unterminated`,
		"2024-03-05T10:20:30.1234567891-07 x",
		`{"msg":"m","req":{"method":"GET","h":{"a":[1, 2]}},"status":500,"level":"info","level":"warn"}`,
		`a=1 b="two words" status=500 user=Ann`,
		`{"<img src=x onerror=alert(1)>":"<b>v</b>","k":"a\u00e9\n"}`,
		"x=1 y=\"\xff\"",
		`{"LOG":{"Level":"error","level":"x"},"log":{"level":30},"Log":1}`,
	} {
		f.Add(s)
	}
	var filters []*Filter
	for _, fs := range [][2]string{{"", ""}, {"warn", "o"}, {"debug", `/^\d{4}-|level=\w+/`}, {"", "status>=500 user=ann"}, {"", `a!=1 "b c" x<=-2.5`}} {
		flt, err := NewFilter(fs[0], fs[1])
		if err != nil {
			f.Fatal(err)
		}
		filters = append(filters, flt)
	}
	f.Fuzz(func(t *testing.T, line string) {
		info := Parse(line)
		switch info.Level {
		case "", LevelDebug, LevelInfo, LevelWarn, LevelError:
		default:
			t.Fatalf("Parse(%q) level %q not normalised", line, info.Level)
		}
		if again := Parse(line); again.Level != info.Level || !again.Time.Equal(info.Time) || again.Msg != info.Msg || !slices.Equal(again.Fields, info.Fields) {
			t.Fatalf("Parse(%q) not deterministic: %v then %v", line, info, again)
		}
		if want, ok := referenceJSON(line); ok && (want.Level != info.Level || !want.Time.Equal(info.Time)) {
			t.Fatalf("Parse(%q) = %q %v, a decoder finds %q %v", line, info.Level, info.Time, want.Level, want.Time)
		}
		checkFields(t, line, info)
		for _, flt := range filters {
			flt.Match(line, info)
		}
		checkFieldSearch(t, line, info)
	})
}

// checkFields checks the bounds on the fields of a line.
func checkFields(t *testing.T, line string, info Info) {
	t.Helper()
	var m map[string]json.RawMessage
	isJSON := isJSONObject(line) && json.Unmarshal([]byte(line), &m) == nil
	if isJSON && len(line) <= MaxStructuredLine && !info.Structured() {
		t.Fatalf("Parse(%q): a JSON object not structured", line)
	}
	if !info.Structured() {
		if info.Msg != "" {
			t.Fatalf("Parse(%q): a message %q without fields", line, info.Msg)
		}
		return
	}
	if len(line) > MaxStructuredLine || len(info.Fields) > MaxFields || isJSONObject(line) && !isJSON {
		t.Fatalf("Parse(%q): structured with %d fields", line, len(info.Fields))
	}
	// Values are parts of the line (a byte of invalid UTF-8 may become
	// three); keys too, with at most maxFlatKey bytes of path before.
	if max := 9*len(line) + MaxFields*(maxFlatKey+50); info.Size() > max {
		t.Fatalf("Parse(%q): fields of %d bytes, more than %d", line, info.Size(), max)
	}
	seen := make(map[string]bool)
	for _, f := range info.Fields {
		if seen[f.Key] {
			t.Fatalf("Parse(%q): key %q twice", line, f.Key)
		}
		seen[f.Key] = true
	}
}

// checkFieldSearch searches a line for the values of its first fields.
func checkFieldSearch(t *testing.T, line string, info Info) {
	t.Helper()
	for i, f := range info.Fields {
		if i == 3 {
			break
		}
		if f.Key == "" || keyLen(f.Key) != len(f.Key) {
			continue // not a key a search can name
		}
		eq := f.Key + "=" + strconv.Quote(f.Value)
		if len(eq) > MaxSearchLen-1 {
			continue
		}
		match := func(search string) bool {
			flt, err := NewFilter("", search)
			if err != nil {
				t.Fatalf("NewFilter(%q): %v", search, err)
			}
			return flt.Match(line, info)
		}
		if !match(eq) {
			t.Fatalf("Parse(%q): the search %s does not find its field", line, eq)
		}
		// The same key may have been written in another case, with
		// another value: != is the negation of = all the same.
		if match(strings.Replace(eq, "=", "!=", 1)) {
			t.Fatalf("Parse(%q): %s and its negation both pass", line, eq)
		}
	}
	for _, search := range []string{"status=500", "level=info", "msg=x"} {
		eq, err := NewFilter("", search)
		if err != nil {
			t.Fatal(err)
		}
		ne, err := NewFilter("", strings.Replace(search, "=", "!=", 1))
		if err != nil {
			t.Fatal(err)
		}
		if eq.Match(line, info) == ne.Match(line, info) {
			t.Fatalf("line %q: %s and its negation agree", line, search)
		}
	}
}

// referenceJSON is how a decoder of the whole object finds the level and
// time of a JSON line: ok is false for a line that is not a JSON object.
// Of keys that differ only in case, the exact lower-case name first, then
// the smallest key.
func referenceJSON(line string) (info Info, ok bool) {
	s := strings.TrimSpace(line)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return Info{}, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return Info{}, false
	}
	level, tm := bestKey{rank: len(levelKeys)}, bestKey{rank: len(timeKeys)}
	for key, raw := range fields {
		if r := keyRank(levelKeys, key); r >= 0 && level.beatenBy(r, key, levelKeys[r]) {
			if lvl := referenceLevel(raw); lvl != "" {
				info.Level, level = lvl, bestKey{r, key}
			}
		}
		if r := keyRank(timeKeys, key); r >= 0 && tm.beatenBy(r, key, timeKeys[r]) {
			if t, ok := referenceTime(raw); ok {
				info.Time, tm = t, bestKey{r, key}
			}
		}
	}
	if info.Level == "" {
		info.Level = referenceNestedLevel(fields)
	}
	return info, true
}

// referenceNestedLevel is the level of {"log":{"level":…}} as a decoder
// of the whole object finds it, keys ranked as at the top level.
func referenceNestedLevel(fields map[string]json.RawMessage) string {
	var level string
	parent := bestKey{rank: 1}
	for key, raw := range fields {
		var inner map[string]json.RawMessage
		if !strings.EqualFold(key, levelParent) || json.Unmarshal(raw, &inner) != nil || inner == nil || !parent.beatenBy(0, key, levelParent) {
			continue
		}
		child, found := bestKey{rank: 1}, ""
		for k, v := range inner {
			if strings.EqualFold(k, levelChild) && child.beatenBy(0, k, levelChild) {
				if lvl := referenceLevel(v); lvl != "" {
					child, found = bestKey{0, k}, lvl
				}
			}
		}
		if found != "" {
			level, parent = found, bestKey{0, key}
		}
	}
	return level
}

func referenceLevel(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return NormalizeLevel(s)
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	return jsonLevel(strconv.FormatFloat(n, 'g', -1, 64))
}

func referenceTime(raw json.RawMessage) (time.Time, bool) {
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

// FuzzNewFilter feeds NewFilter what a client may send as a level and a
// search: it never panics, refuses what is over the limits, and a filter
// it accepts matches any line without panicking.
func FuzzNewFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"warn", "timeout"}, {"error", "/^\\d{4}-/"}, {"info", "/(a|b)*c/"},
		{"", "/(?:x?){999}/"}, {"", "/[/"}, {"debug", "/(?i)ÉTÉ/"}, {"bogus", "x"},
		{"", "status>=500 user=ann"}, {"", `user="ann smith" "two words"`}, {"", "n>abc"}, {"", `k="unterminated`},
	} {
		f.Add(s[0], s[1])
	}
	lines := []string{"", "2024-03-05 10:20:30 [error] timeout", `{"level":"warn","msg":"été"}`, "\xff\xfe",
		`{"status":502,"user":"Ann","req":{"ms":12.5}}`, "a=1 status=500 user=ann x"}
	f.Fuzz(func(t *testing.T, level, search string) {
		flt, err := NewFilter(level, search)
		if err != nil {
			return
		}
		if len(search) > MaxSearchLen {
			t.Fatalf("a search of %d bytes was accepted (limit %d)", len(search), MaxSearchLen)
		}
		for _, l := range lines {
			flt.Match(l, Parse(l))
		}
	})
}
